"""Log rows are append-only: on PostgreSQL a trigger refuses UPDATE and DELETE on the four
log tables unless the transaction set `logcenter.purge = 'on'` (SET LOCAL), which only the
retention code does. Other databases rely on the application (no edit paths exist)."""

from django.db import migrations

LOG_TABLES = ("logcenter_auditevent", "logcenter_usagerecord", "logcenter_authevent",
              "logcenter_systemevent")

FUNCTION = """
CREATE OR REPLACE FUNCTION logcenter_refuse_log_change() RETURNS trigger AS $$
BEGIN
    IF coalesce(current_setting('logcenter.purge', true), '') = 'on' AND TG_OP = 'DELETE' THEN
        RETURN NULL;  -- statement-level: the return value is ignored
    END IF;
    RAISE EXCEPTION 'log rows are append-only: % on % refused', TG_OP, TG_TABLE_NAME
        USING ERRCODE = 'insufficient_privilege';
END;
$$ LANGUAGE plpgsql;
"""


def install(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute(FUNCTION, params=None)  # no placeholders: % is plpgsql here
    for table in LOG_TABLES:
        schema_editor.execute(
            f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
            f"FOR EACH STATEMENT EXECUTE FUNCTION logcenter_refuse_log_change()"
        )


def uninstall(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for table in LOG_TABLES:
        schema_editor.execute(f"DROP TRIGGER IF EXISTS {table}_append_only ON {table}")
    schema_editor.execute("DROP FUNCTION IF EXISTS logcenter_refuse_log_change()")


def default_policies(apps, schema_editor):
    RetentionPolicy = apps.get_model("logcenter", "RetentionPolicy")
    for kind, days in {"audit": 365, "usage": 90, "auth": 90, "system": 30}.items():
        RetentionPolicy.objects.get_or_create(kind=kind, defaults={"days": days})


class Migration(migrations.Migration):
    dependencies = [("logcenter", "0003_retention")]

    operations = [
        migrations.RunPython(install, uninstall),
        migrations.RunPython(default_policies, migrations.RunPython.noop),
    ]
