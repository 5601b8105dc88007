"""One TRUNCATE rule for every append-only table: only the table's owner (the migration
role, or a superuser) may empty it. The integrity records let TRUNCATE through in any
database named test_… (0018); now they follow the rule of the log tables' `_no_truncate`
triggers (0019), which the test runner's flush meets as the owner."""

from django.db import migrations

OWNER_RULE = """
CREATE OR REPLACE FUNCTION logcenter_refuse_integrity_change() RETURNS trigger AS $$
BEGIN
    IF TG_OP = 'TRUNCATE' AND pg_has_role(
            current_user, (SELECT relowner FROM pg_class WHERE oid = TG_RELID), 'MEMBER') THEN
        RETURN NULL;  -- the owner (a test database's flush, an operator) may
    END IF;
    RAISE EXCEPTION 'integrity records are append-only: % on % refused', TG_OP, TG_TABLE_NAME
        USING ERRCODE = 'insufficient_privilege';
END;
$$ LANGUAGE plpgsql;
DROP FUNCTION IF EXISTS logcenter_truncate_allowed();
"""

DATABASE_NAME_RULE = """
CREATE OR REPLACE FUNCTION logcenter_truncate_allowed() RETURNS boolean AS $$
    SELECT current_database() LIKE 'test\\_%';
$$ LANGUAGE sql STABLE;
CREATE OR REPLACE FUNCTION logcenter_refuse_integrity_change() RETURNS trigger AS $$
BEGIN
    IF TG_OP = 'TRUNCATE' AND logcenter_truncate_allowed() THEN
        RETURN NULL;
    END IF;
    RAISE EXCEPTION 'integrity records are append-only: % on % refused', TG_OP, TG_TABLE_NAME
        USING ERRCODE = 'insufficient_privilege';
END;
$$ LANGUAGE plpgsql;
"""


def owner_rule(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(OWNER_RULE, params=None)  # % is plpgsql's


def database_name_rule(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(DATABASE_NAME_RULE, params=None)


class Migration(migrations.Migration):

    dependencies = [
        ("logcenter", "0019_least_privilege"),
    ]

    operations = [
        migrations.RunPython(owner_rule, database_name_rule),
    ]
