"""A migration operation that replaces indexes of a large log table without locking it.

Django's RemoveIndex/AddIndex run a plain CREATE INDEX, which holds a SHARE lock on the
table for the whole build: on the partitioned usage table that stops ingestion for minutes
(2 min 42 s for fifteen indexes on 10M rows). PostgreSQL cannot build an index on a
partitioned table CONCURRENTLY, so this operation does what its manual describes instead:

1. create the new index on the parent alone (`ON ONLY`: instant, invalid until complete);
2. build it CONCURRENTLY on each partition and attach it (writes go on meanwhile);
3. in one short transaction, drop the old index and give the new one its name.

Only step 3 locks the table, for milliseconds, and it waits at most `LOCK_TIMEOUT` for a
long reader (an export) before trying again. A run that was interrupted leaves invalid
half-built indexes; the next run drops them first and starts that index again.

On SQLite, and on a PostgreSQL table that is not partitioned, the same state change is
made with the schema editor's own statements (CONCURRENTLY where PostgreSQL allows it).
Migrations using this operation must set `atomic = False`.
"""

import time

from django.db import transaction
from django.db.migrations.operations.base import Operation

BUILDING_SUFFIX = "_n"  # the new index's name while it is built beside the old one
LOCK_TIMEOUT = "5s"
SWAP_ATTEMPTS = 12


class ReplaceIndexesOnline(Operation):
    """Replace the model's indexes named in `remove` by `add`, without a long table lock.

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
        return f"Replace {len(self.remove)} indexes of {self.model_name} without locking it"

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
        for index in new:
            _build(schema_editor, new_model, index)
        _swap(schema_editor, new_model, old, new)


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


def _build(schema_editor, model, index):
    table = model._meta.db_table
    building = _named(index, index.name + BUILDING_SUFFIX)
    quote = schema_editor.quote_name
    # Whatever an interrupted run left of this index is invalid: start it again.
    schema_editor.execute(f"DROP INDEX IF EXISTS {quote(building.name)}")
    partitions = _partitions(schema_editor, table)
    if partitions is None:
        schema_editor.execute(building.create_sql(model, schema_editor, concurrently=True))
        return
    for partition in partitions:
        schema_editor.execute(
            f"DROP INDEX IF EXISTS {quote(_child_name(building.name, partition, table))}")
    schema_editor.execute(building.create_sql(
        model, schema_editor,
        sql=schema_editor.sql_create_index.replace(" ON ", " ON ONLY ", 1)))
    # Partitions are listed after the parent has the index: one created from now on (the
    # months-ahead task) gets its own copy from the parent as it is created.
    for partition in _partitions(schema_editor, table):
        child = _child_name(building.name, partition, table)
        with schema_editor.connection.cursor() as cursor:
            cursor.execute("SELECT 1 FROM pg_inherits WHERE inhparent = %s::regclass AND "
                           "inhrelid IN (SELECT indexrelid FROM pg_index WHERE indrelid = "
                           "%s::regclass)", [building.name, partition])
            if cursor.fetchone():
                continue  # made with the partition
        statement = _named(index, child).create_sql(model, schema_editor, concurrently=True)
        statement.rename_table_references(table, partition)
        schema_editor.execute(statement)
        schema_editor.execute(
            f"ALTER INDEX {quote(building.name)} ATTACH PARTITION {quote(child)}")
    with schema_editor.connection.cursor() as cursor:
        cursor.execute("SELECT indisvalid FROM pg_index WHERE indexrelid = %s::regclass",
                       [building.name])
        if not cursor.fetchone()[0]:
            raise RuntimeError(f"{building.name} is not valid after building it on every "
                               f"partition of {table}; run the migration again.")


def _swap(schema_editor, model, old, new):
    """Drop the old indexes and name the new ones, in one short transaction."""
    connection, quote = schema_editor.connection, schema_editor.quote_name
    table = model._meta.db_table
    partitions = _partitions(schema_editor, table) or ()
    for attempt in range(1, SWAP_ATTEMPTS + 1):
        try:
            with transaction.atomic(using=connection.alias), connection.cursor() as cursor:
                cursor.execute(f"SET LOCAL lock_timeout = '{LOCK_TIMEOUT}'")
                for index in old:
                    cursor.execute(f"DROP INDEX IF EXISTS {quote(index.name)}")
                for index in new:
                    building = index.name + BUILDING_SUFFIX
                    cursor.execute(f"ALTER INDEX {quote(building)} RENAME TO {quote(index.name)}")
                    for partition in partitions:
                        cursor.execute(
                            f"ALTER INDEX IF EXISTS {quote(_child_name(building, partition, table))} "
                            f"RENAME TO {quote(_child_name(index.name, partition, table))}")
            return
        except Exception as error:  # lock_timeout: a long reader holds the table
            if getattr(error.__cause__, "sqlstate", None) != "55P03" or attempt == SWAP_ATTEMPTS:
                raise
            time.sleep(1)
