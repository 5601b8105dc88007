"""Retention per plan, checked by the database as the platform's retention is (0019).

- `logcenter_purge_organization(table, organization, before, limit)`: deletes one
  organization's rows older than `before` only when `before` is past its plan's window for
  the table's kind (and past `min_days`), neither the organization nor the kind is on legal
  hold, and the plan keeps that kind for a limited time. The app role thus cannot delete a
  younger row of an organization, whatever it asks.
- `logcenter_purge` (the platform policy) leaves the rows of organizations on legal hold,
  and `logcenter_drop_usage_partition` refuses a month holding any of them.
"""

from importlib import import_module

from django.db import migrations

previous = import_module("logcenter.migrations.0019_least_privilege")

HELD = """
CREATE OR REPLACE FUNCTION logcenter_held_organizations()
RETURNS text[] LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
    SELECT coalesce(array_agg(public_id), '{}') FROM accounts_organization WHERE legal_hold
$$"""


def _amended(function, old, new):
    """0019's text of `function` with `old` (present once) replaced by `new`."""
    assert function.count(old) == 1, old
    return function.replace(old, new)


# Organizations on legal hold keep their rows from the platform's purge: its DELETE leaves
# them (a table without organizations, the usage ledger, is purged as before).
ORGANIZATION_COLUMN = ("EXISTS (SELECT 1 FROM pg_attribute WHERE attrelid = p_table::regclass "
                       "AND attname = 'organization_id' AND NOT attisdropped)")
PURGE = _amended(
    previous.PURGE,
    "'ORDER BY occurred_at LIMIT $2)', p_table, v_key, v_key, p_table)",
    "'%s ORDER BY occurred_at LIMIT $2)', p_table, v_key, v_key, p_table,\n"
    f"                   CASE WHEN {ORGANIZATION_COLUMN} THEN 'AND organization_id <> ALL "
    "(ARRAY(SELECT public_id FROM accounts_organization WHERE legal_hold))' ELSE '' END)")

PURGE_ORGANIZATION = """
CREATE OR REPLACE FUNCTION logcenter_purge_organization(
    p_table text, p_organization text, p_before timestamptz, p_limit integer)
RETURNS bigint LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
    v_kind text;
    v_key text;
    v_min integer;
    v_hold boolean;
    v_days jsonb;
    v_cutoff timestamptz;
    v_count bigint;
BEGIN
    SELECT kind, key_column, min_days INTO v_kind, v_key, v_min FROM logcenter_logtable
     WHERE table_name = p_table;
    IF NOT FOUND OR NOT """ + ORGANIZATION_COLUMN + """ THEN
        RAISE EXCEPTION '% is not a log table of organizations', p_table
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    PERFORM logcenter_retention_cutoff(v_kind, v_min);  -- the kind's legal hold, its policy
    SELECT o.legal_hold, p.retention_days -> v_kind INTO v_hold, v_days
      FROM accounts_organization o JOIN accounts_plan p ON p.id = o.plan_id
     WHERE o.public_id = p_organization;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'no organization %', p_organization
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    IF v_hold THEN
        RAISE EXCEPTION 'organization % is on legal hold', p_organization
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    IF v_days IS NULL OR jsonb_typeof(v_days) <> 'number' THEN
        RAISE EXCEPTION 'the plan of organization % keeps its % logs without limit',
            p_organization, v_kind USING ERRCODE = 'insufficient_privilege';
    END IF;
    -- Whole days, rounded up: never fewer than the plan says. The same leeway as 0019.
    v_cutoff := clock_timestamp() + interval '5 minutes'
                - make_interval(days => greatest(ceil(v_days::text::numeric)::integer, v_min));
    IF p_before > v_cutoff THEN
        RAISE EXCEPTION 'rows of % of organization % after % are not expired (its plan keeps '
                        'them until %)', p_table, p_organization, p_before, v_cutoff
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    PERFORM set_config('logcenter.purge', 'on', true);
    EXECUTE format('DELETE FROM %I WHERE %I IN (SELECT %I FROM %I WHERE organization_id = $3 '
                   'AND occurred_at < $1 ORDER BY occurred_at LIMIT $2)',
                   p_table, v_key, v_key, p_table)
        USING p_before, p_limit, p_organization;
    GET DIAGNOSTICS v_count = ROW_COUNT;
    PERFORM set_config('logcenter.purge', 'off', true);
    RETURN v_count;
END $$"""

# A month holding rows of an organization on legal hold is not dropped.
DROP_PARTITION = _amended(
    previous.DROP_PARTITION,
    "    EXECUTE format('SELECT count(*) FROM %I', p_name) INTO v_count;",
    "    EXECUTE format('SELECT count(*) FILTER (WHERE organization_id = ANY ($1)), count(*) '\n"
    "                   'FROM %I', p_name)\n"
    "        INTO v_held, v_count USING logcenter_held_organizations();\n"
    "    IF v_held > 0 THEN\n"
    "        RAISE EXCEPTION 'partition % holds rows of an organization on legal hold', p_name\n"
    "            USING ERRCODE = 'insufficient_privilege';\n"
    "    END IF;").replace("    v_count bigint;\n", "    v_count bigint;\n    v_held bigint;\n", 1)


def install(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for statement in (HELD, PURGE, PURGE_ORGANIZATION, DROP_PARTITION):
        schema_editor.execute(statement, params=None)  # no placeholders: % is plpgsql's


def uninstall(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for statement in (previous.PURGE, previous.DROP_PARTITION):
        schema_editor.execute(statement, params=None)
    schema_editor.execute("DROP FUNCTION IF EXISTS "
                          "logcenter_purge_organization(text, text, timestamptz, integer)")
    schema_editor.execute("DROP FUNCTION IF EXISTS logcenter_held_organizations()")


class Migration(migrations.Migration):

    dependencies = [
        ("accounts", "0007_organizations"),
        ("logcenter", "0027_organization_columns"),
    ]

    operations = [
        migrations.RunPython(install, uninstall),
    ]
