"""(PostgreSQL) logcenter_sum_int8: sum() of bigints that stays a bigint.

PostgreSQL's own sum(bigint) returns numeric, through an arbitrary-precision state per group:
summing thousands of stats groups spent half its time there. This one adds with int8pl,
which raises 'bigint out of range' rather than wrap, so a sum is exact or an error."""

from django.db import migrations

CREATE = """
CREATE OR REPLACE AGGREGATE logcenter_sum_int8(bigint) (
    SFUNC = int8pl, STYPE = bigint, COMBINEFUNC = int8pl, PARALLEL = SAFE
)"""
DROP = "DROP AGGREGATE IF EXISTS logcenter_sum_int8(bigint)"


def create(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(CREATE)


def drop(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(DROP)


class Migration(migrations.Migration):
    dependencies = [("logcenter", "0013_usage_hourly_by_user_only")]

    operations = [migrations.RunPython(create, drop)]
