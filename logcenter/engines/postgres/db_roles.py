"""Two PostgreSQL roles: an owner that migrates, and an app role that cannot rewrite history.

`DATABASE_URL` is the app role (web, workers, beat): it owns nothing, may SELECT and INSERT
log rows (append-only tables: the four kinds, the usage ledger, the integrity records) and
read and write the rest (rollups, jobs, sessions, users: operational or derived data).
`MIGRATION_DATABASE_URL` is the owner, for the same database: `migrate`, `flush` and
`seed_demo` switch to it (logcenter/management/commands), and after every migrate the app
role's privileges are granted afresh from what the tables are (`grant_app_role`).

The app role removes rows and changes partitions only through SECURITY DEFINER functions
owned by the owner (migration 0019), which check the retention policy themselves:

- `logcenter_purge(table, before, limit)`: deletes rows older than `before` only when
  `before` is past the kind's retention (and past `min_days`), and not under legal hold
  (the kind's, or their organization's: migration 0028);
- `logcenter_purge_organization(table, organization, before, limit)`: the same for one
  organization's rows, past its plan's window for the kind (0028);
- `logcenter_create_usage_partition(month)`, `logcenter_drop_usage_partition(name)`: the
  months ahead, and whole expired months;
- `logcenter_analyze(table)`: planner statistics (ANALYZE needs the owner).

Without MIGRATION_DATABASE_URL (SQLite, or one PostgreSQL role) everything runs as the one
role, as before; the README says why production should not.
"""

from contextlib import contextmanager

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connections

CREDENTIALS = ("USER", "PASSWORD", "HOST", "PORT")
# Owner-only: the app role gets no privilege at all on these.
OWNER_ONLY_TABLES = {"logcenter_logtable"}
# The app role reads these but never writes them.
READ_ONLY_TABLES = {"django_migrations"}
# A table with a trigger of this name is append-only (migration 0004 and those after it).
APPEND_ONLY_TRIGGER_SUFFIX = "_append_only"
FUNCTIONS = (
    "logcenter_purge(text, timestamptz, integer)",
    "logcenter_purge_organization(text, text, timestamptz, integer)",
    "logcenter_create_usage_partition(timestamptz)",
    "logcenter_drop_usage_partition(text)",
    "logcenter_analyze(text)",
)


def owner_credentials():
    """The owner's USER/PASSWORD/HOST/PORT, or None when there is one role."""
    owner = getattr(settings, "MIGRATION_DATABASE", None)
    if not owner:
        return None
    return {key: owner.get(key, "") for key in CREDENTIALS}


def split_roles(alias=DEFAULT_DB_ALIAS) -> bool:
    """Whether the app connects as a role other than the owner (PostgreSQL only)."""
    owner = owner_credentials()
    connection = connections[alias]
    return bool(owner and connection.vendor == "postgresql"
                and owner["USER"] != app_credentials(alias)["USER"])


_app = {}


def app_credentials(alias=DEFAULT_DB_ALIAS):
    """The app role's credentials, as the settings first gave them."""
    if alias not in _app:
        _app[alias] = {key: settings.DATABASES[alias].get(key, "") for key in CREDENTIALS}
    return _app[alias]


def _use(alias, credentials):
    connection = connections[alias]
    app_credentials(alias)  # remember the app's before the first switch
    if all(connection.settings_dict.get(k, "") == v for k, v in credentials.items()):
        return
    connection.close()
    connection.settings_dict.update(credentials)
    settings.DATABASES[alias].update(credentials)


def use_owner(alias=DEFAULT_DB_ALIAS):
    """Connect as the owner from now on (a test session's setup and teardown)."""
    if owner_credentials():
        _use(alias, owner_credentials())


def use_app(alias=DEFAULT_DB_ALIAS):
    """Connect as the app role again."""
    if owner_credentials():
        _use(alias, app_credentials(alias))


@contextmanager
def as_owner(alias=DEFAULT_DB_ALIAS):
    """Run the block as the owner (migrate, flush, the demo loader), then as before."""
    owner = owner_credentials()
    connection = connections[alias]
    if not owner or connection.vendor != "postgresql":
        yield
        return
    before = {key: connection.settings_dict.get(key, "") for key in CREDENTIALS}
    _use(alias, owner)
    try:
        yield
    finally:
        _use(alias, before)


def after_migrate(alias=DEFAULT_DB_ALIAS):
    """As the owner, after every migrate: which tables retention may purge (and the days
    every row is kept at least), TRUNCATE refused on every append-only table, and the app
    role's privileges. Derived from the registry and the tables, never listed here."""
    connection = connections[alias]
    if connection.vendor != "postgresql":
        return
    from logcenter.retention.purge import purgeable_tables

    min_days = settings.LOGCENTER["MIN_RETENTION_DAYS"]
    with connection.cursor() as cursor:
        cursor.execute("SELECT to_regclass('logcenter_logtable') IS NOT NULL")
        if not cursor.fetchone()[0]:
            return  # migrated to a point before 0019
        cursor.execute("DELETE FROM logcenter_logtable")
        for table, kind_slug, key in purgeable_tables():
            cursor.execute("INSERT INTO logcenter_logtable VALUES (%s, %s, %s, %s)",
                           [table, kind_slug, key, min_days])
        cursor.execute(
            "SELECT c.relname FROM pg_class c JOIN pg_trigger t ON t.tgrelid = c.oid "
            "AND t.tgname = c.relname || %s WHERE c.relnamespace = 'public'::regnamespace "
            "AND NOT EXISTS (SELECT 1 FROM pg_trigger n WHERE n.tgrelid = c.oid "
            "AND n.tgname = c.relname || '_no_truncate')", [APPEND_ONLY_TRIGGER_SUFFIX])
        for (table,) in cursor.fetchall():
            quoted = connection.ops.quote_name
            cursor.execute(f"CREATE TRIGGER {quoted(table + '_no_truncate')} BEFORE TRUNCATE "
                           f"ON {quoted(table)} FOR EACH STATEMENT "
                           f"EXECUTE FUNCTION logcenter_refuse_truncate()")
    grant_app_role(alias)


def grant_app_role(alias=DEFAULT_DB_ALIAS):
    """As the owner: the app role's privileges, derived from the tables as they are now.

    Append-only tables (a `<table>_append_only` trigger): SELECT, INSERT. Owner-only
    tables: nothing. The rest: SELECT, INSERT, UPDATE, DELETE. Never TRUNCATE, never
    ownership. Tables the owner creates later (a month's partition) get SELECT, INSERT
    by default; the next migrate grants the rest."""
    if not split_roles(alias):
        return
    app = app_credentials(alias)["USER"]
    connection = connections[alias]
    with connection.cursor() as cursor:
        quote = connection.ops.quote_name
        role = quote(app)
        cursor.execute(
            "SELECT c.relname, c.relispartition, EXISTS (SELECT 1 FROM pg_trigger t "
            "WHERE t.tgrelid = c.oid AND t.tgname = c.relname || %s) "
            "FROM pg_class c WHERE c.relnamespace = 'public'::regnamespace "
            "AND c.relkind IN ('r', 'p')", [APPEND_ONLY_TRIGGER_SUFFIX])
        tables = cursor.fetchall()
        statements = [f"GRANT USAGE ON SCHEMA public TO {role}"]
        for name, is_partition, append_only in tables:
            table = quote(name)
            statements.append(f"REVOKE ALL ON {table} FROM {role}")
            if name in OWNER_ONLY_TABLES:
                continue
            if name in READ_ONLY_TABLES:
                privileges = "SELECT"
            elif append_only or is_partition:
                privileges = "SELECT, INSERT"
            else:
                privileges = "SELECT, INSERT, UPDATE, DELETE"
            statements.append(f"GRANT {privileges} ON {table} TO {role}")
        statements += [
            f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO {role}",
            f"ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT, INSERT ON TABLES TO {role}",
            f"ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT USAGE, SELECT ON SEQUENCES "
            f"TO {role}",
        ]
        for function in FUNCTIONS:
            statements += [f"REVOKE ALL ON FUNCTION {function} FROM PUBLIC",
                           f"GRANT EXECUTE ON FUNCTION {function} TO {role}"]
        for statement in statements:
            cursor.execute(statement)
