"""Least privilege on PostgreSQL: what the app role may not do, it cannot do.

The app role (DATABASE_URL) owns nothing: logcenter.engines.postgres.db_roles grants it SELECT and INSERT on
the append-only tables after every migrate. Removing rows and changing partitions go
through the SECURITY DEFINER functions below, owned by the migration role, which check the
retention policy themselves: even the app role cannot delete a row that is not expired, or
one under legal hold. `logcenter_logtable` (owner-only) says which tables may be purged,
for which kind, and the least number of days any row is kept whatever the policy says
(filled after every migrate from the registry). TRUNCATE of an append-only table is refused
by a trigger unless its owner (or a superuser) runs it."""

from django.db import migrations

LOGTABLE = """
CREATE TABLE IF NOT EXISTS logcenter_logtable (
    table_name text PRIMARY KEY,
    kind text NOT NULL,
    key_column text NOT NULL,
    min_days integer NOT NULL CHECK (min_days >= 0)
)"""

CUTOFF = """
CREATE OR REPLACE FUNCTION logcenter_retention_cutoff(p_kind text, p_min_days integer)
RETURNS timestamptz LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = public, pg_temp AS $$
DECLARE
    v_days integer;
    v_hold boolean;
BEGIN
    SELECT days, legal_hold INTO v_days, v_hold FROM logcenter_retentionpolicy
     WHERE kind = p_kind;
    IF NOT FOUND THEN  -- no policy says these rows may go: they stay
        RAISE EXCEPTION 'no retention policy for the % logs', p_kind
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    IF v_hold THEN
        RAISE EXCEPTION 'the % logs are on legal hold', p_kind
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    -- The wall clock, not the transaction's start (now()); a few minutes' leeway for the
    -- app's clock, as ingestion allows events a few minutes ahead.
    RETURN clock_timestamp() + interval '5 minutes'
           - make_interval(days => greatest(coalesce(v_days, 0), p_min_days));
END $$"""

PURGE = """
CREATE OR REPLACE FUNCTION logcenter_purge(p_table text, p_before timestamptz, p_limit integer)
RETURNS bigint LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
    v_kind text;
    v_key text;
    v_min integer;
    v_cutoff timestamptz;
    v_count bigint;
BEGIN
    SELECT kind, key_column, min_days INTO v_kind, v_key, v_min FROM logcenter_logtable
     WHERE table_name = p_table;
    IF NOT FOUND THEN
        RAISE EXCEPTION '% is not a log table that retention purges', p_table
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    v_cutoff := logcenter_retention_cutoff(v_kind, v_min);
    IF p_before > v_cutoff THEN
        RAISE EXCEPTION 'rows of % after % are not expired (retention keeps them until %)',
            p_table, p_before, v_cutoff USING ERRCODE = 'insufficient_privilege';
    END IF;
    PERFORM set_config('logcenter.purge', 'on', true);
    EXECUTE format('DELETE FROM %I WHERE %I IN (SELECT %I FROM %I WHERE occurred_at < $1 '
                   'ORDER BY occurred_at LIMIT $2)', p_table, v_key, v_key, p_table)
        USING p_before, p_limit;
    GET DIAGNOSTICS v_count = ROW_COUNT;
    PERFORM set_config('logcenter.purge', 'off', true);
    RETURN v_count;
END $$"""

CREATE_PARTITION = """
CREATE OR REPLACE FUNCTION logcenter_create_usage_partition(p_month timestamptz)
RETURNS boolean LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
    v_name text := 'logcenter_usagerecord_p' || to_char(p_month AT TIME ZONE 'UTC', 'YYYY_MM');
BEGIN
    IF p_month <> date_trunc('month', p_month, 'UTC') THEN
        RAISE EXCEPTION 'a usage partition starts at a month: %', p_month;
    END IF;
    IF p_month > now() + interval '13 months' OR p_month < timestamptz '2000-01-01 UTC' THEN
        RAISE EXCEPTION 'no usage partition for %', p_month
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    IF to_regclass(v_name) IS NOT NULL THEN
        RETURN false;
    END IF;
    EXECUTE format('CREATE TABLE %I PARTITION OF logcenter_usagerecord FOR VALUES FROM (%L) '
                   'TO (%L)', v_name, p_month, p_month + interval '1 month');
    RETURN true;
END $$"""

DROP_PARTITION = """
CREATE OR REPLACE FUNCTION logcenter_drop_usage_partition(p_name text)
RETURNS bigint LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
    v_min integer;
    v_end timestamptz;
    v_cutoff timestamptz;
    v_count bigint;
BEGIN
    IF p_name !~ '^logcenter_usagerecord_p[0-9]{4}_[0-9]{2}$' OR NOT EXISTS (
            SELECT 1 FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
             WHERE i.inhparent = 'logcenter_usagerecord'::regclass AND c.relname = p_name) THEN
        RAISE EXCEPTION '% is not a monthly usage partition', p_name
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    SELECT min_days INTO v_min FROM logcenter_logtable WHERE table_name = 'logcenter_usagerecord';
    v_end := (to_date(right(p_name, 7), 'YYYY_MM')::timestamp AT TIME ZONE 'UTC')
             + interval '1 month';
    v_cutoff := logcenter_retention_cutoff('usage', coalesce(v_min, 0));
    IF v_end > v_cutoff THEN
        RAISE EXCEPTION 'partition % holds rows that are not expired (retention keeps them '
                        'until %)', p_name, v_cutoff USING ERRCODE = 'insufficient_privilege';
    END IF;
    EXECUTE format('SELECT count(*) FROM %I', p_name) INTO v_count;
    EXECUTE format('DROP TABLE %I', p_name);
    RETURN v_count;
END $$"""

ANALYZE = """
CREATE OR REPLACE FUNCTION logcenter_analyze(p_table text)
RETURNS void LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_class WHERE relname = p_table
                   AND relnamespace = 'public'::regnamespace AND relkind IN ('r', 'p')) THEN
        RAISE EXCEPTION '% is not a table of the log center', p_table;
    END IF;
    EXECUTE format('ANALYZE %I', p_table);
END $$"""

REFUSE_TRUNCATE = """
CREATE OR REPLACE FUNCTION logcenter_refuse_truncate() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF pg_has_role(current_user, (SELECT relowner FROM pg_class WHERE oid = TG_RELID),
                   'MEMBER') THEN
        RETURN NULL;  -- the owner (a test database's flush, an operator) may
    END IF;
    RAISE EXCEPTION 'log rows are append-only: TRUNCATE on % refused', TG_TABLE_NAME
        USING ERRCODE = 'insufficient_privilege';
END $$"""


def install(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for statement in (LOGTABLE, CUTOFF, PURGE, CREATE_PARTITION, DROP_PARTITION, ANALYZE,
                      REFUSE_TRUNCATE):
        schema_editor.execute(statement, params=None)  # no placeholders: % is plpgsql's


def uninstall(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for function in ("logcenter_purge(text, timestamptz, integer)",
                     "logcenter_create_usage_partition(timestamptz)",
                     "logcenter_drop_usage_partition(text)", "logcenter_analyze(text)",
                     "logcenter_retention_cutoff(text, integer)"):
        schema_editor.execute(f"DROP FUNCTION IF EXISTS {function}")
    with schema_editor.connection.cursor() as cursor:
        cursor.execute("SELECT tgname, tgrelid::regclass::text FROM pg_trigger "
                       "WHERE tgname LIKE '%%\\_no_truncate'")
        for name, table in cursor.fetchall():
            schema_editor.execute(f'DROP TRIGGER IF EXISTS "{name}" ON "{table}"')
    schema_editor.execute("DROP FUNCTION IF EXISTS logcenter_refuse_truncate()")
    schema_editor.execute("DROP TABLE IF EXISTS logcenter_logtable")


class Migration(migrations.Migration):

    dependencies = [
        ("logcenter", "0018_integrity"),
    ]

    operations = [
        migrations.RunPython(install, uninstall),
    ]
