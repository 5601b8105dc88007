"""A migration operation that replaces indexes of a large log table while writes go on.

Django's RemoveIndex/AddIndex run a plain CREATE INDEX, which holds a SHARE lock on the
table for the whole build: on the partitioned usage table that stops ingestion for minutes
(2 min 42 s for fifteen indexes on 10M rows). PostgreSQL cannot build an index on a
partitioned table CONCURRENTLY, so this operation does what its manual describes instead:

1. create the new index on the parent alone (`ON ONLY`: no rows read, invalid until done);
2. build it CONCURRENTLY on each partition and attach it there;
3. drop the old indexes and give the new ones their names, in one transaction.

Builds take no lock that stops writes. The steps that do lock (1, each attach, 3, and the
clean-up of an interrupted run) are short, and each waits at most `LOCK_TIMEOUT_MS` for
its lock: behind a long reader (an export) it backs off and tries again, instead of
queueing every insert behind itself. The partition jobs (months ahead, retention, the demo
loader) hold `partitions.LAYOUT_LOCK` while they change partitions, and so does this
operation, so no partition appears or goes while its indexes are built.

A run that was interrupted leaves `<name>_n` indexes: a finished one is kept, a half-built
one is dropped and built again. On SQLite, and on a PostgreSQL table that is not
partitioned, the same state change is made with the schema editor's own statements
(CONCURRENTLY where PostgreSQL allows it). Migrations using this operation must set
`atomic = False`.
"""

import random
import re
import time

from django.db import OperationalError, transaction
from django.db.migrations.operations.base import Operation

BUILDING_SUFFIX = "_n"  # the new index's name while it is built beside the old one
LOCK_TIMEOUT_MS = 1000
LOCK_ATTEMPTS = 120  # with the back-off below: about ten minutes behind a long reader


class ReplaceIndexesOnline(Operation):
    """Replace the model's indexes named in `remove` by `add` while writes go on.

    A name may appear in both: the index is redefined under the same name."""

    reduces_to_sql = False
    reversible = True
    atomic = False  # CREATE INDEX CONCURRENTLY cannot run inside a transaction

    def __init__(self, model_name, remove, add):
        self.model_name = model_name
        self.remove = list(remove)
        self.add = list(add)

    def deconstruct(self):
        return (self.__class__.__qualname__, [],
                {"model_name": self.model_name, "remove": self.remove, "add": self.add})

    def describe(self):
        return f"Replace {len(self.remove)} indexes of {self.model_name} while writes go on"

    @property
    def migration_name_fragment(self):
        return f"replace_indexes_{self.model_name.lower()}"

    def state_forwards(self, app_label, state):
        for name in self.remove:
            state.remove_index(app_label, self.model_name.lower(), name)
        for index in self.add:
            state.add_index(app_label, self.model_name.lower(), index)

    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        old_model = from_state.apps.get_model(app_label, self.model_name)
        new_model = to_state.apps.get_model(app_label, self.model_name)
        old = [index for index in old_model._meta.indexes if index.name in self.remove]
        self._replace(schema_editor, old_model, new_model, old, self.add)

    def database_backwards(self, app_label, schema_editor, from_state, to_state):
        current = from_state.apps.get_model(app_label, self.model_name)
        earlier = to_state.apps.get_model(app_label, self.model_name)
        restored = [index for index in earlier._meta.indexes if index.name in self.remove]
        self._replace(schema_editor, current, earlier, self.add, restored)

    def _replace(self, schema_editor, old_model, new_model, old, new):
        if not self.allow_migrate_model(schema_editor.connection.alias, new_model):
            return
        if schema_editor.connection.vendor != "postgresql":
            for index in old:
                schema_editor.remove_index(old_model, index)
            for index in new:
                schema_editor.add_index(new_model, index)
            return
        if schema_editor.connection.in_atomic_block:
            raise RuntimeError(f"{self.describe()}: the migration needs `atomic = False`.")
        replace_online(schema_editor, new_model, old, new)


def replace_online(schema_editor, model, old, new):
    """On PostgreSQL: build the `new` indexes beside the old ones (CONCURRENTLY, partition
    by partition), then drop the `old` and give the new their names, with short locks."""
    from logcenter.engines.postgres.partitions import layout_locked

    with layout_locked(wait=True):
        for index in new:
            _build(schema_editor, model, index)
        quote = schema_editor.quote_name
        table = model._meta.db_table
        statements = [f"DROP INDEX IF EXISTS {quote(index.name)}" for index in old]
        for index in new:
            building = index.name + BUILDING_SUFFIX
            statements.append(f"ALTER INDEX {quote(building)} RENAME TO {quote(index.name)}")
            statements.extend(
                f"ALTER INDEX IF EXISTS {quote(_child_name(building, partition, table))} "
                f"RENAME TO {quote(_child_name(index.name, partition, table))}"
                for partition in _partitions(schema_editor, table) or ())
        run_with_short_locks(schema_editor.connection, statements)


class AddSearchIndexOnline(Operation):
    """The trigram index of free text search (engines.postgres.search) on a log model's
    searched `fields`, built while writes go on (as ReplaceIndexesOnline builds). PostgreSQL
    only, and outside the model's state: other databases search without it. Needs the
    pg_trgm extension (TrigramExtension before it) and `atomic = False`."""

    reduces_to_sql = False
    reversible = True
    atomic = False

    def __init__(self, model_name, fields):
        self.model_name = model_name
        self.fields = list(fields)

    def deconstruct(self):
        return (self.__class__.__qualname__, [self.model_name, self.fields], {})

    def describe(self):
        return f"Add the free text search index of {self.model_name} while writes go on"

    @property
    def migration_name_fragment(self):
        return f"search_index_{self.model_name.lower()}"

    def state_forwards(self, app_label, state):
        pass  # not part of the model's state: a PostgreSQL-only index

    def _index(self, schema_editor, model):
        if (schema_editor.connection.vendor != "postgresql"
                or not self.allow_migrate_model(schema_editor.connection.alias, model)):
            return None
        from logcenter.engines.postgres.search import search_index

        return search_index(model, self.fields)

    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        model = to_state.apps.get_model(app_label, self.model_name)
        index = self._index(schema_editor, model)
        if index is not None:
            replace_online(schema_editor, model, [], [index])

    def database_backwards(self, app_label, schema_editor, from_state, to_state):
        model = from_state.apps.get_model(app_label, self.model_name)
        index = self._index(schema_editor, model)
        if index is not None:
            run_with_short_locks(schema_editor.connection, [
                f"DROP INDEX IF EXISTS {schema_editor.quote_name(index.name)}"])


def run_with_short_locks(connection, statements):
    """Run `statements` in one transaction whose every lock wait is capped at
    LOCK_TIMEOUT_MS; when one times out (a long reader holds the table), roll back, back
    off and try again. Returns the number of attempts it took."""
    from psycopg import errors

    for attempt in range(1, LOCK_ATTEMPTS + 1):
        try:
            with transaction.atomic(using=connection.alias), connection.cursor() as cursor:
                cursor.execute(f"SET LOCAL lock_timeout = {LOCK_TIMEOUT_MS}")
                for statement in statements:
                    cursor.execute(str(statement))
            return attempt
        except OperationalError as error:
            retry = isinstance(error.__cause__, (errors.LockNotAvailable, errors.DeadlockDetected))
            if not retry or attempt == LOCK_ATTEMPTS:
                raise
            # Jittered so that the writers queued behind one attempt get through first.
            time.sleep(min(5.0, 0.1 * attempt) * random.uniform(0.5, 1.5))
    return LOCK_ATTEMPTS


def _partitions(schema_editor, table):
    """The table's partitions, or None when it is a plain table."""
    with schema_editor.connection.cursor() as cursor:
        cursor.execute("SELECT relkind FROM pg_class WHERE oid = %s::regclass", [table])
        if cursor.fetchone()[0] != "p":
            return None
        cursor.execute("SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
                       "WHERE i.inhparent = %s::regclass ORDER BY c.relname", [table])
        return [name for (name,) in cursor.fetchall()]


def _named(index, name):
    copy = index.clone()
    copy.name = name
    return copy


def _child_name(index_name, partition, table):
    # "usage_user_id_idx" + "_p2026_12": short, and unlike the names PostgreSQL makes up.
    return f"{index_name}_{partition.removeprefix(table).lstrip('_')}"


def _comparable(definition):
    """An index definition with quoting, schema and the default method left out."""
    definition = definition.replace('"', "").replace("public.", "").replace(" USING btree", "")
    return re.sub(r"\s+", " ", definition).strip()


def _valid_definition(schema_editor, name):
    with schema_editor.connection.cursor() as cursor:
        cursor.execute("SELECT indisvalid, pg_get_indexdef(indexrelid) FROM pg_index "
                       "WHERE indexrelid = to_regclass(%s)", [name])
        row = cursor.fetchone()
    return _comparable(row[1]) if row and row[0] else None


def _build(schema_editor, model, index):
    connection, quote = schema_editor.connection, schema_editor.quote_name
    table = model._meta.db_table
    building = _named(index, index.name + BUILDING_SUFFIX)
    partitions = _partitions(schema_editor, table)
    if partitions is None:
        create = building.create_sql(model, schema_editor, concurrently=True)
        if _valid_definition(schema_editor, building.name) == _comparable(
                str(create).replace(" CONCURRENTLY", "")):
            return  # finished by an interrupted run
        schema_editor.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {quote(building.name)}")
        schema_editor.execute(create)
        return

    parent = building.create_sql(model, schema_editor,
                                 sql=schema_editor.sql_create_index.replace(" ON ", " ON ONLY ", 1))
    if _valid_definition(schema_editor, building.name) == _comparable(str(parent)):
        return  # finished by an interrupted run (its swap gave up)
    # Whatever else an interrupted run left of this index is half-built: start it again.
    # The parent's drop takes its attached partition indexes along; the others go
    # CONCURRENTLY, one at a time.
    run_with_short_locks(connection, [f"DROP INDEX IF EXISTS {quote(building.name)}"])
    for partition in partitions:
        schema_editor.execute("DROP INDEX CONCURRENTLY IF EXISTS "
                              f"{quote(_child_name(building.name, partition, table))}")
    run_with_short_locks(connection, [parent])
    for partition in _partitions(schema_editor, table):
        child = _child_name(building.name, partition, table)
        statement = _named(index, child).create_sql(model, schema_editor, concurrently=True)
        statement.rename_table_references(table, partition)
        schema_editor.execute(statement)
        run_with_short_locks(
            connection, [f"ALTER INDEX {quote(building.name)} ATTACH PARTITION {quote(child)}"])
    if _valid_definition(schema_editor, building.name) is None:
        raise RuntimeError(f"{building.name} is not valid after building it on every "
                           f"partition of {table}; run the migration again.")


class AppendOnly(Operation):
    """Make a log model's table append-only: one line in the migration that creates it.

        operations = [migrations.CreateModel(name="FifthEvent", …),
                      AppendOnly("FifthEvent")]

    On PostgreSQL it creates the statement trigger `<table>_append_only`, which refuses
    UPDATE and DELETE unless retention's purge function set `logcenter.purge` (the function
    `logcenter_refuse_log_change` of logcenter migration 0004: the migration depends on it).
    That trigger is what the rest reads: after every migrate the owner adds the TRUNCATE
    trigger and grants the app role only SELECT and INSERT on such a table
    (logcenter.engines.postgres.db_roles.after_migrate). Other databases rely on the
    application, which has no edit paths. The table comes from the model's state, so a
    custom `db_table` is followed. The four first kinds got theirs in 0004 (and 0007 for
    the partitioned usage table), by name.
    """

    reduces_to_sql = False
    reversible = True
    FUNCTION = "logcenter_refuse_log_change()"

    def __init__(self, model_name):
        self.model_name = model_name

    def deconstruct(self):
        return (self.__class__.__qualname__, [self.model_name], {})

    def describe(self):
        return f"Make {self.model_name}'s table append-only (PostgreSQL trigger)"

    @property
    def migration_name_fragment(self):
        return f"append_only_{self.model_name.lower()}"

    def state_forwards(self, app_label, state):
        pass  # the schema's state has no triggers

    def _table(self, app_label, schema_editor, state):
        model = state.apps.get_model(app_label, self.model_name)
        if (schema_editor.connection.vendor != "postgresql"
                or not self.allow_migrate_model(schema_editor.connection.alias, model)):
            return None
        return model._meta.db_table

    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        table = self._table(app_label, schema_editor, to_state)
        if table is None:
            return
        with schema_editor.connection.cursor() as cursor:
            cursor.execute("SELECT to_regprocedure(%s) IS NOT NULL", [self.FUNCTION])
            if not cursor.fetchone()[0]:
                raise RuntimeError(f"{self.describe()}: {self.FUNCTION} does not exist yet; "
                                   "the migration must depend on logcenter's 0004_append_only.")
        quote = schema_editor.quote_name
        schema_editor.execute(
            f"CREATE TRIGGER {quote(table + '_append_only')} BEFORE UPDATE OR DELETE ON "
            f"{quote(table)} FOR EACH STATEMENT EXECUTE FUNCTION {self.FUNCTION}")

    def database_backwards(self, app_label, schema_editor, from_state, to_state):
        table = self._table(app_label, schema_editor, from_state)
        if table is None:
            return
        quote = schema_editor.quote_name
        schema_editor.execute(f"DROP TRIGGER IF EXISTS {quote(table + '_append_only')} "
                              f"ON {quote(table)}")
