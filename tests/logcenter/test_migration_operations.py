"""Migration 0015 rebuilds the usage filter indexes online, partition by partition."""

import importlib
import threading
from datetime import timedelta

import pytest
from django.db import connection, connections
from django.db.migrations.executor import MigrationExecutor
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from logcenter.engines.postgres.migration_operations import _build, run_with_short_locks
from logcenter.models import UsageRecord
from tests.factories import UsageRecordFactory

# Migrations are the owner's (the app role may not change the schema).
pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("as_owner")]

BEFORE = [("logcenter", "0014_sum_int8_aggregate")]
AFTER = ("logcenter", "0015_filter_indexes_carry_the_sort_keys")
# The indexes migration 0015 rebuilt (later migrations add more with INCLUDE columns).
FILTER_INDEXES = [index.name for index in importlib.import_module(
    "logcenter.migrations.0015_filter_indexes_carry_the_sort_keys").Migration.operations[0].add]


def _migrate(targets):
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    with CaptureQueriesContext(connection) as queries:
        executor.migrate(targets or executor.loader.graph.leaf_nodes())
    if not targets:
        # Back at the latest migration: what `manage.py migrate` does after migrating (the
        # purgeable tables, TRUNCATE triggers and the app role's privileges; 0019's
        # reversal dropped them), or the tests after this one would meet an empty list.
        from logcenter.engines.postgres import db_roles

        db_roles.after_migrate()
    return [query["sql"] for query in queries.captured_queries]


def _index_definitions(name):
    """{table: definition} of the index `name` and of the partition indexes attached to it."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT c.relname, i.indisvalid, pg_get_indexdef(i.indexrelid) FROM pg_index i "
            "JOIN pg_class c ON c.oid = i.indrelid WHERE i.indexrelid = %s::regclass OR "
            "i.indexrelid IN (SELECT inhrelid FROM pg_inherits WHERE inhparent = %s::regclass)",
            [name, name])
        rows = cursor.fetchall()
    assert all(valid for _, valid, _ in rows), rows
    return {table: definition for table, _, definition in rows}


def _partitions():
    with connection.cursor() as cursor:
        cursor.execute("SELECT inhrelid::regclass::text FROM pg_inherits "
                       "WHERE inhparent = 'logcenter_usagerecord'::regclass")
        return {name for (name,) in cursor.fetchall()}


def test_filter_indexes_are_replaced_partition_by_partition_while_writes_go_on(on_postgres):
    now = timezone.now()
    for days in (0, 40, 70):
        UsageRecordFactory(occurred_at=now - timedelta(days=days))
    assert len(FILTER_INDEXES) == 15
    try:
        _migrate([AFTER])  # later migrations (0032 rebuilds these indexes again) undone first
        backwards = _migrate(BEFORE)
        for name in FILTER_INDEXES:
            definitions = _index_definitions(name)
            assert set(definitions) == _partitions() | {"logcenter_usagerecord"}
            assert all("INCLUDE" not in d for d in definitions.values())
        # What an interrupted earlier run leaves behind: a half-made parent index and an
        # invalid partition index. Both are dropped and built again.
        with connection.cursor() as cursor:
            cursor.execute('CREATE INDEX "usage_status_idx_n" ON ONLY logcenter_usagerecord '
                           "(status)")
            cursor.execute('CREATE INDEX "usage_status_idx_n_default" ON '
                           "logcenter_usagerecord_default (status)")
        # ...and one index it had finished before its swap gave up: that one is kept.
        model = MigrationExecutor(connection).loader.project_state(AFTER).apps.get_model(
            "logcenter", "UsageRecord")
        finished = next(i for i in model._meta.indexes if i.name == "usage_user_id_idx")
        with connection.schema_editor(atomic=False) as editor:
            _build(editor, model, finished)
        forwards = _migrate([AFTER])  # this migration alone: later ones build their own
    finally:
        _migrate(None)

    for name in FILTER_INDEXES:
        definitions = _index_definitions(name)
        assert set(definitions) == _partitions() | {"logcenter_usagerecord"}
        # The sort keys first (0015), then the carried filter columns (0032, run last).
        assert all("INCLUDE (cost, total_tokens, latency_ms, " in d
                   for d in definitions.values()), definitions
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_class WHERE relname ~ '^usage_.*_idx_n(_|$)'")
        assert cursor.fetchone()[0] == 0
    assert UsageRecord.objects.count() == 3

    # A plain CREATE INDEX holds off every write to the table while it reads all of it.
    # Here each partition's index is built CONCURRENTLY; the parent's (ON ONLY) reads nothing.
    for statements, built in ((backwards, 15), (forwards, 14)):
        builds = [sql for sql in statements if sql.lstrip().upper().startswith("CREATE INDEX")]
        assert len(builds) == built * (len(_partitions()) + 1)
        assert all("CONCURRENTLY" in sql or " ON ONLY " in sql for sql in builds), builds
    assert not any('"usage_user_id_idx_n' in sql for sql in forwards if "CREATE" in sql)


def test_short_lock_statements_back_off_behind_a_long_reader_and_then_run(on_postgres):
    """A statement that needs the table exclusively (an ATTACH, the final swap) does not
    queue behind an export's long read, and every insert with it: it gives up its wait
    after a second, backs off, and runs once the reader is gone."""
    holding, release = threading.Event(), threading.Event()

    def long_reader():
        try:
            with connections["default"].cursor() as cursor:
                cursor.execute("BEGIN")
                cursor.execute("SELECT count(*) FROM logcenter_usagerecord")
                holding.set()
                release.wait(10)
                cursor.execute("COMMIT")
        finally:
            connections.close_all()

    reader = threading.Thread(target=long_reader)
    reader.start()
    assert holding.wait(10)
    threading.Timer(2.5, release.set).start()
    attempts = run_with_short_locks(
        connection, ["LOCK TABLE logcenter_usagerecord IN ACCESS EXCLUSIVE MODE"])
    reader.join()
    assert release.is_set()  # it ran only once the reader had let go
    assert attempts >= 2
