"""The usage ledger: every usage event_id stored, once, whatever its time (UsageLedger).

Filled from the rows already stored (an id stored twice, at two times, before this ledger
existed keeps the later time, so retention drops it only with the last of its rows). On
PostgreSQL the ledger is append-only like the log tables: UPDATE and DELETE are refused
unless the transaction set `logcenter.purge` (retention)."""

from django.db import migrations, models

LEDGER = "logcenter_usageledger"
USAGE = "logcenter_usagerecord"


def backfill(apps, schema_editor):
    with schema_editor.connection.cursor() as cursor:
        cursor.execute(f"INSERT INTO {LEDGER} (event_id, occurred_at) "
                       f"SELECT event_id, max(occurred_at) FROM {USAGE} GROUP BY event_id")


def append_only(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(  # the function is migration 0004's
            f"CREATE TRIGGER {LEDGER}_append_only BEFORE UPDATE OR DELETE ON {LEDGER} "
            f"FOR EACH STATEMENT EXECUTE FUNCTION logcenter_refuse_log_change()")


def drop_append_only(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(f"DROP TRIGGER IF EXISTS {LEDGER}_append_only ON {LEDGER}")


class Migration(migrations.Migration):

    dependencies = [
        ("logcenter", "0015_filter_indexes_carry_the_sort_keys"),
    ]

    operations = [
        migrations.CreateModel(
            name="UsageLedger",
            fields=[
                ("event_id", models.UUIDField(primary_key=True, serialize=False,
                                              verbose_name="event ID")),
                ("occurred_at", models.DateTimeField()),
            ],
            options={
                "indexes": [models.Index(fields=["occurred_at"], name="usage_ledger_time_idx")],
            },
        ),
        migrations.RunPython(backfill, migrations.RunPython.noop),
        migrations.RunPython(append_only, drop_append_only),
    ]
