"""The PostgreSQL engine: the portable engine's operations, done in the database where
that is faster (COPY ingestion, the rollup inbox and its fold, bucket SQL,
percentile_disc, keyset plans over the monthly partitions, COPY exports, streams'
documents as JSON, the owner's purge functions and partition drops, planner statistics)."""

from contextlib import contextmanager

from django.db import DatabaseError, connection, transaction

from logcenter.analytics import rollups as usage_rollups
from logcenter.engines.base import NotExpired
from logcenter.engines.orm.engine import OrmEngine
from logcenter.engines.postgres import (
    buckets, export_sql, grouping_sets, ingest, integrity, keyset, leaves, locks, partitions,
    planner_stats, rollups, search, stream_documents,
)
from logcenter.models import UsageRecord, UsageRollupInbox


class PostgresEngine(OrmEngine):
    name = "postgresql"

    # --- ingest ------------------------------------------------------------------------

    def store(self, kind, rows):
        if not rows:
            return 0
        return ingest.store_copy(kind, rows)

    def after_ingest(self, kind):
        if kind.model is UsageRecord:  # its sums wait in the inbox: fold them soon
            usage_rollups.rollup_fold_soon()

    # --- listing -----------------------------------------------------------------------

    def page(self, kind, filterset, queryset, carried=None):
        return keyset.page(kind, filterset, queryset, carried)

    def count_listed(self, kind, filterset, queryset, cap):
        return keyset.count_listed(filterset, queryset, cap)

    def text_candidates(self, model, fields, value):
        return search.candidates(model, fields, value)

    def estimate(self, queryset):
        return keyset.planned_rows(queryset)

    # --- stats -------------------------------------------------------------------------

    def rollup_pending(self):
        return [UsageRollupInbox]  # only this engine's ingestion uses the inbox

    @contextmanager
    def one_snapshot(self):
        """Outside a transaction, one REPEATABLE READ transaction; inside one, the
        caller's isolation applies."""
        if connection.in_atomic_block:
            yield
            return
        with transaction.atomic():
            with connection.cursor() as cursor:
                cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
            connection.logcenter_one_snapshot = True
            try:
                yield
            finally:
                connection.logcenter_one_snapshot = False

    def reads_one_snapshot(self):
        # Inside a caller's READ COMMITTED transaction each statement sees its own moment: a
        # fold committing between reading the closed hours' version and their rows would
        # cache new rows under the old version.
        return getattr(connection, "logcenter_one_snapshot", False)

    def buckets(self, query, pieces, edges, tz):
        return buckets.buckets_sql(query, pieces, tz)

    def grouped_together(self, entries):
        return grouping_sets.grouped_together(entries)

    def latest_calls(self, queryset, sample, since):
        latest = queryset.order_by("-occurred_at", "-id").values(
            "latency_ms", "occurred_at", "total_tokens")[:sample + 1]
        sql, params = latest.query.sql_with_params()
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT percentile_disc(0.95) WITHIN GROUP (ORDER BY latency_ms), count(*), "
                "min(occurred_at), count(*) FILTER (WHERE occurred_at >= %s), "
                f"sum(total_tokens) FILTER (WHERE occurred_at >= %s) FROM ({sql}) AS latest",
                [since, since, *params])
            p95, rows, oldest, requests, tokens = cursor.fetchone()
        return {"p95": p95 or 0, "rows": rows, "oldest": oldest,
                "since_requests": requests, "since_tokens": tokens or 0}

    # --- rollups -----------------------------------------------------------------------

    def rollup_add(self, rows):
        rollups.rollup_add(rows)

    def rollup_fold(self):
        return rollups.rollup_fold()

    def rollup_rebuild(self, start=None, end=None):
        return rollups.rollup_rebuild(start, end)

    # --- exports -----------------------------------------------------------------------

    formats_exports = True

    def export_copy(self, queryset, columns, access, fmt, on_chunk):
        export_sql.copy_rows(queryset, columns, access, fmt, on_chunk)

    # --- log streams -------------------------------------------------------------------

    def stream_documents(self, kind, masked, hidden):
        return stream_documents.document_rows(kind, masked, hidden)

    # --- retention ---------------------------------------------------------------------

    def purge_batch(self, model, before, batch_size, organization_id=None):
        """Through the owner's `logcenter_purge` (migration 0019), or for one
        organization `logcenter_purge_organization` (0028), which check the retention
        policy, the plan and the legal holds themselves: the app role has no DELETE on
        log tables."""
        if organization_id is None:
            call, params = "logcenter_purge(%s, %s, %s)", [before, batch_size]
        else:
            call = "logcenter_purge_organization(%s, %s, %s, %s)"
            params = [organization_id, before, batch_size]
        with transaction.atomic():
            try:
                with transaction.atomic(), connection.cursor() as cursor:
                    cursor.execute(f"SELECT {call}", [model._meta.db_table, *params])
                    return cursor.fetchone()[0]
            except DatabaseError as error:
                if getattr(error.__cause__, "sqlstate", "") == "42501":  # refused
                    raise NotExpired(str(error.__cause__).splitlines()[0]) from None
                raise

    def drop_expired(self, kind, cutoff):
        if kind.model is not UsageRecord or not partitions.is_partitioned():
            return {}
        return partitions.drop_usage_partitions_before(cutoff)

    # --- planner upkeep ----------------------------------------------------------------

    def planner_upkeep(self):
        return planner_stats.refresh_stale_tables()

    def prepare_ahead(self, start, end):
        return partitions.ensure_usage_partitions(start, end)

    # --- integrity ---------------------------------------------------------------------

    parallel_reads = True

    def row_leaves(self, model, after, upto=None, *, limit=None, with_time=False):
        if not leaves.supports(model):
            return super().row_leaves(model, after, upto, limit=limit, with_time=with_time)
        return leaves.row_leaves(model).leaves(after, upto, limit, with_time)

    def try_exclusive(self, key):
        return locks.session_lock(key, wait=False)

    def take_turn(self, name):
        integrity.take_turn(name)

    def seal_horizons(self, kinds, settle, wait):
        return integrity.seal_horizons(kinds, settle, wait)

    # --- bulk loads (seed_demo --usage) ------------------------------------------------

    concurrent_writers = True

    def bulk_load(self, kind, fields, start, end, count):
        from logcenter.engines.postgres.bulk_load import CopyBulkLoad

        return CopyBulkLoad(kind, fields, start, end, count)

    def after_bulk_load(self, models):
        from logcenter.engines.postgres.bulk_load import vacuum_analyze

        vacuum_analyze(models)
