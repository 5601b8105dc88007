"""Usage records become a table partitioned by month on PostgreSQL (SQLite: no change).

Works on an empty and on a populated database: the rows move into the new partitioned
table, then the constraints, Django's indexes and the append-only trigger are created on
it (PostgreSQL clones them to every partition, present and future). A populated table
takes a while: rows are copied once and every index is built once, after the copy.
"""

from datetime import datetime, timedelta
from datetime import timezone as dt_timezone

from django.db import migrations

TABLE = "logcenter_usagerecord"
OLD = f"{TABLE}_unpartitioned"

ROW_FUNCTION = """
CREATE OR REPLACE FUNCTION logcenter_refuse_log_row_change() RETURNS trigger AS $$
BEGIN
    IF coalesce(current_setting('logcenter.purge', true), '') = 'on' AND TG_OP = 'DELETE' THEN
        RETURN OLD;
    END IF;
    RAISE EXCEPTION 'log rows are append-only: % on % refused', TG_OP, TG_TABLE_NAME
        USING ERRCODE = 'insufficient_privilege';
END;
$$ LANGUAGE plpgsql;
"""


def _month(value):
    return datetime(value.year, value.month, 1, tzinfo=dt_timezone.utc)


def _next(value):
    return datetime(value.year + (value.month == 12), value.month % 12 + 1, 1,
                    tzinfo=dt_timezone.utc)


def partition(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    model = apps.get_model("logcenter", "UsageRecord")
    now = datetime.now(dt_timezone.utc)
    with schema_editor.connection.cursor() as cursor:
        cursor.execute(f"SELECT min(occurred_at) FROM {TABLE}")
        first = cursor.fetchone()[0] or now
        first = min(first, now - timedelta(days=120))
        cursor.execute(f"ALTER TABLE {TABLE} RENAME TO {OLD}")
        cursor.execute(f"CREATE TABLE {TABLE} (LIKE {OLD} INCLUDING DEFAULTS INCLUDING IDENTITY)"
                       f" PARTITION BY RANGE (occurred_at)")
        month = _month(first)
        while month <= now + timedelta(days=95):
            cursor.execute(f'CREATE TABLE "{TABLE}_p{month:%Y_%m}" PARTITION OF {TABLE} '
                           f"FOR VALUES FROM (%s) TO (%s)", [month, _next(month)])
            month = _next(month)
        cursor.execute(f"CREATE TABLE {TABLE}_default PARTITION OF {TABLE} DEFAULT")
        cursor.execute(f"INSERT INTO {TABLE} SELECT * FROM {OLD}")
        cursor.execute(f"SELECT setval(pg_get_serial_sequence('{TABLE}', 'id'), "
                       f"coalesce((SELECT max(id) FROM {TABLE}), 0) + 1, false)")
        cursor.execute(f"DROP TABLE {OLD}")
        cursor.execute(f"ALTER TABLE {TABLE} ADD CONSTRAINT {TABLE}_pkey "
                       f"PRIMARY KEY (id, occurred_at)")
        cursor.execute(f"ALTER TABLE {TABLE} ADD CONSTRAINT {TABLE}_event_id_key "
                       f"UNIQUE (event_id, occurred_at)")
        cursor.execute(ROW_FUNCTION, None)
        cursor.execute(f"CREATE TRIGGER {TABLE}_append_only BEFORE UPDATE OR DELETE ON {TABLE} "
                       f"FOR EACH ROW EXECUTE FUNCTION logcenter_refuse_log_row_change()")
    for index in model._meta.indexes:
        schema_editor.add_index(model, index)
    with schema_editor.connection.cursor() as cursor:
        cursor.execute(f"ANALYZE {TABLE}")


class Migration(migrations.Migration):
    atomic = True
    dependencies = [("logcenter", "0006_narrow_rollups")]

    operations = [migrations.RunPython(partition, migrations.RunPython.noop)]
