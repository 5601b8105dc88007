"""Migration 0015 rebuilds the usage filter indexes online, partition by partition."""

from datetime import timedelta

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from logcenter.models import UsageRecord
from tests.factories import UsageRecordFactory

pytestmark = pytest.mark.django_db(transaction=True)

BEFORE = [("logcenter", "0014_sum_int8_aggregate")]
FILTER_INDEXES = [index.name for index in UsageRecord._meta.indexes if index.include]


def _migrate(targets):
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    with CaptureQueriesContext(connection) as queries:
        executor.migrate(targets or executor.loader.graph.leaf_nodes())
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


def test_filter_indexes_are_replaced_partition_by_partition_without_a_table_lock(on_postgres):
    now = timezone.now()
    for days in (0, 40, 70):
        UsageRecordFactory(occurred_at=now - timedelta(days=days))
    assert len(FILTER_INDEXES) == 15
    try:
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
        forwards = _migrate(None)
    finally:
        _migrate(None)

    for name in FILTER_INDEXES:
        definitions = _index_definitions(name)
        assert set(definitions) == _partitions() | {"logcenter_usagerecord"}
        assert all("INCLUDE (cost, total_tokens, latency_ms)" in d for d in definitions.values())
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_class WHERE relname ~ '^usage_.*_idx_n(_|$)'")
        assert cursor.fetchone()[0] == 0
    assert UsageRecord.objects.count() == 3

    # A plain CREATE INDEX holds off every write to the table while it reads all of it.
    # Here each partition's index is built CONCURRENTLY; the parent's (ON ONLY) reads nothing.
    for statements in (backwards, forwards):
        builds = [sql for sql in statements if sql.lstrip().upper().startswith("CREATE INDEX")]
        assert len(builds) == 15 * (len(_partitions()) + 1)
        assert all("CONCURRENTLY" in sql or " ON ONLY " in sql for sql in builds), builds
