"""Monthly partitions of the usage table on PostgreSQL."""

from datetime import timedelta

import psycopg
import pytest
from django.db import DatabaseError, connection, transaction
from django.utils import timezone

from logcenter.engines.postgres import partitions
from logcenter.retention import purge as retention
from logcenter.models import SystemEvent, UsageRecord
from logcenter.tasks import usage_partitions_ensure
from tests.conftest import wait_for
from tests.factories import UsageRecordFactory

pytestmark = pytest.mark.django_db


def test_usage_is_partitioned_by_month_with_months_ahead(on_postgres):
    assert partitions.is_partitioned()
    usage_partitions_ensure()
    ends = [end for _, _, end in partitions.usage_partitions()]
    assert max(ends) > timezone.now() + timedelta(days=60)
    with connection.cursor() as cursor:
        cursor.execute("SELECT tableoid::regclass::text FROM logcenter_usagerecord WHERE id = %s",
                       [UsageRecordFactory().pk])
        assert cursor.fetchone()[0] == partitions.partition_name(
            partitions.month_start(timezone.now()))


def test_retention_drops_whole_expired_months(on_postgres):
    old = timezone.now() - timedelta(days=200)
    partitions.ensure_usage_partitions(old, old)
    name = partitions.partition_name(partitions.month_start(old))
    UsageRecordFactory.create_batch(3, occurred_at=old)
    recent = UsageRecordFactory()
    report = retention.retention_purge()
    assert name in report.partitions_dropped and report.deleted["usage"] >= 3
    assert name not in [n for n, _, _ in partitions.usage_partitions()]
    assert list(UsageRecord.objects.values_list("pk", flat=True)) == [recent.pk]
    event = SystemEvent.objects.filter(event="retention.purged").latest("id")
    assert name in event.details["partitions_dropped"]


def test_partitions_are_append_only_too(on_postgres):
    row = UsageRecordFactory()
    table = partitions.partition_name(partitions.month_start(row.occurred_at))
    # The app role has no DELETE on a partition; a single role meets the trigger.
    with pytest.raises(DatabaseError, match="append-only|permission denied"):
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(f'DELETE FROM "{table}" WHERE id = %s', [row.pk])


@pytest.mark.django_db(transaction=True)
def test_seed_demo_usage_loads_whole_months_and_swaps_them_in(on_postgres, as_owner):
    """The bulk loader: index-free month tables, swapped in with every index, the
    append-only trigger and sums equal to the rows; proportionate other kinds alongside."""
    from django.db.models import Count, Sum

    import demo
    from logcenter.models import USAGE_ROLLUPS, AuditEvent, AuthEvent

    demo.seed(counts={"usage": 300, "audit": 40, "auth": 40, "system": 10}, log=lambda *a: None)
    kept = set(UsageRecord.objects.values_list("event_id", flat=True))
    audits, auths = AuditEvent.objects.count(), AuthEvent.objects.count()
    rows, _ = demo.add_usage(
        4_000, chunk=500, days=90, workers=2, log=lambda *a: None,
        alongside=lambda: demo.add_events({"audit": 30, "auth": 60, "system": 15},
                                          days=90, log=lambda *a: None))
    assert rows == 4_000
    assert UsageRecord.objects.count() == 4_300
    assert kept <= set(UsageRecord.objects.values_list("event_id", flat=True))
    assert UsageRecord.objects.aggregate(n=Count("id", distinct=True))["n"] == 4_300
    assert AuditEvent.objects.count() == audits + 30 and AuthEvent.objects.count() == auths + 60
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_indexes WHERE tablename = %s",
                       [partitions.TABLE])
        parent_indexes = cursor.fetchone()[0]
        for name, _, _ in partitions.usage_partitions():
            cursor.execute("SELECT count(*) FROM pg_inherits i JOIN pg_class c ON "
                           "c.oid = i.inhrelid JOIN pg_index x ON x.indexrelid = c.oid "
                           "WHERE x.indrelid = %s::regclass", [name])
            assert cursor.fetchone()[0] == parent_indexes, name
            cursor.execute("SELECT count(*) FROM pg_trigger WHERE tgrelid = %s::regclass "
                           "AND tgname LIKE %s", [name, "%append_only%"])
            assert cursor.fetchone()[0] == 1, name
        cursor.execute("SELECT count(*) FROM pg_class WHERE relname LIKE %s",
                       [partitions.TABLE + "%_load"])
        assert cursor.fetchone()[0] == 0
    raw = UsageRecord.objects.aggregate(n=Count("id"), cost=Sum("cost"))
    for rollup in USAGE_ROLLUPS:
        sums = rollup.objects.aggregate(n=Sum("requests"), cost=Sum("cost"))
        assert (sums["n"], sums["cost"]) == (raw["n"], raw["cost"]), rollup.__name__
    with pytest.raises(DatabaseError), transaction.atomic():
        UsageRecord.objects.filter(pk=UsageRecord.objects.order_by("-pk")[0].pk).update(cost=0)


@pytest.mark.django_db(transaction=True)
def test_planner_stats_refresh_analyzes_the_partitions_ingestion_changed(
        on_postgres):
    from logcenter.engines.postgres.planner_stats import refresh_stale_tables, stale_tables

    def flushed(query):  # this backend's counters reach the shared ones once it is idle
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_stat_force_next_flush()")
        with connection.cursor() as cursor:
            cursor.execute(query)
            return cursor.fetchall()

    now = timezone.now()
    partitions.ensure_usage_partitions(now, now)
    current = partitions.partition_name(partitions.month_start(now))
    UsageRecordFactory(occurred_at=now)  # analyzed with rows (analyzed empty, any row counts)
    with connection.cursor() as cursor:
        cursor.execute("SELECT logcenter_analyze(%s)", [current])
    UsageRecordFactory.create_batch(30, occurred_at=now)
    flushed("SELECT 1")
    assert current in stale_tables(stale_rows=20, stale_share=0)
    assert current not in stale_tables(stale_rows=50, stale_share=0)

    # Through the owner's logcenter_analyze: the app role owns no table. (Vacuuming, and
    # the visibility map index-only reads use, is autovacuum's.)
    assert current in refresh_stale_tables(stale_rows=20, stale_share=0)
    (analyzed,) = flushed(f"SELECT n_live_tup, n_mod_since_analyze FROM pg_stat_user_tables "
                          f"WHERE relname = '{current}'")
    assert analyzed == (31, 0)
    assert current not in stale_tables(stale_rows=20, stale_share=0)


@pytest.mark.django_db(transaction=True)
def test_planner_stats_analyze_a_table_analyzed_empty_once_it_has_a_few_rows(on_postgres):
    """A month's partition made ahead is analyzed while empty (or never); its first rows,
    however few, leave the planner taking it for empty until it is analyzed again."""
    from logcenter.engines.postgres.planner_stats import refresh_stale_tables, stale_tables

    def flushed(query):
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_stat_force_next_flush()")
        with connection.cursor() as cursor:
            cursor.execute(query)
            return cursor.fetchall()

    ahead = timezone.now() + timedelta(days=62)
    partitions.ensure_usage_partitions(ahead, ahead)
    table = partitions.partition_name(partitions.month_start(ahead))
    with connection.cursor() as cursor:
        cursor.execute(f'ANALYZE "{table}"')
    flushed("SELECT 1")
    assert table not in stale_tables()  # empty, nothing changed
    UsageRecordFactory.create_batch(3, occurred_at=ahead)
    flushed("SELECT 1")
    assert table in stale_tables()  # 3 rows: far below 5,000 or 2 %, but taken for empty
    assert table in refresh_stale_tables()
    assert flushed(f"SELECT reltuples FROM pg_class WHERE relname = '{table}'") == [(3.0,)]
    UsageRecordFactory.create_batch(2, occurred_at=ahead)
    flushed("SELECT 1")
    assert table not in stale_tables()  # analyzed with its rows: few changes wait again


def test_lists_leave_out_the_partitions_made_for_the_months_ahead(on_postgres, staff):
    from logcenter.core import selectors
    from logcenter.core.registry import registry

    usage_partitions_ensure()
    now = timezone.now()
    current = partitions.partition_name(partitions.month_start(now))
    ahead = partitions.partition_name(partitions.next_month(partitions.next_month(now)))
    assert ahead in [name for name, _, _ in partitions.usage_partitions()]
    for params in ({}, {"range": "all"}, {"start_time": "2020-01-01T00:00"}):
        queryset = selectors.log_list(registry["usage"], staff, params).queryset
        with connection.cursor() as cursor:
            cursor.execute("EXPLAIN " + str(queryset.query.sql_with_params()[0]),
                           queryset.query.sql_with_params()[1])
            plan = "\n".join(row[0] for row in cursor.fetchall())
        assert current in plan and ahead not in plan, params


@pytest.mark.django_db(transaction=True)
def test_partition_jobs_step_aside_while_the_layout_is_held(on_postgres, drop_ahead):
    """While an online index rebuild holds the layout, the months-ahead job creates nothing
    and retention leaves usage for its next run, instead of blocking or racing it."""
    old = timezone.now() - timedelta(days=400)
    partitions.ensure_usage_partitions(old, old)
    ahead = timezone.now() + timedelta(days=200)
    holder = psycopg.connect(**connection.get_connection_params(), autocommit=True)
    try:
        holder.execute("SELECT pg_advisory_lock(%s)", [partitions.LAYOUT_LOCK])
        assert partitions.ensure_usage_partitions(ahead, ahead) == []
        report = retention.retention_purge()
        assert report.deferred == ["usage"] and not report.finished
        assert partitions.partition_name(partitions.month_start(old)) in {
            name for name, _, _ in partitions.usage_partitions()}
    finally:
        # Unlocked explicitly: a closed session's locks go only once its backend has exited.
        holder.execute("SELECT pg_advisory_unlock(%s)", [partitions.LAYOUT_LOCK])
        holder.close()
    assert partitions.ensure_usage_partitions(ahead, ahead) == [
        partitions.partition_name(partitions.month_start(ahead))]
    assert retention.retention_purge().deferred == []
    assert partitions.partition_name(partitions.month_start(old)) not in {
        name for name, _, _ in partitions.usage_partitions()}


@pytest.fixture
def drop_ahead():
    from logcenter.engines.postgres import db_roles

    yield
    with db_roles.as_owner(), connection.cursor() as cursor:  # others count the months ahead
        cursor.execute('DROP TABLE IF EXISTS "%s"' % partitions.partition_name(
            partitions.month_start(timezone.now() + timedelta(days=200))))



@pytest.mark.django_db(transaction=True)
def test_a_failed_partition_change_lets_go_of_the_layout(on_postgres):
    with pytest.raises(DatabaseError, match="no_such_table"):
        with transaction.atomic(), partitions.layout_locked(wait=True):
            with connection.cursor() as cursor:
                cursor.execute("SELECT * FROM no_such_table")
    other = psycopg.connect(**connection.get_connection_params(), autocommit=True)
    try:
        # The failed block closed its session to let go; the lock goes once that backend has
        # exited, which PostgreSQL does a moment after the close: so it is waited for.
        assert wait_for(lambda: other.execute("SELECT pg_try_advisory_lock(%s)",
                                              [partitions.LAYOUT_LOCK]).fetchone()[0],
                        timeout=10, interval=0.05)
        other.execute("SELECT pg_advisory_unlock(%s)", [partitions.LAYOUT_LOCK])
    finally:
        other.close()
