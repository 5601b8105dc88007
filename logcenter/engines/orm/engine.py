"""The portable engine: every operation through the Django ORM, on any database.

What the PostgreSQL engine does in the database (COPY, bucket SQL, percentile_disc, the
rollup inbox) is done here with bulk_create and in Python, with the same results: the
tests run both engines and compare them where both can run.
"""

import math
from bisect import bisect_right
from contextlib import nullcontext
from datetime import timezone as dt_timezone

from django.db import transaction
from django.db.models import Count, Sum
from django.db.models.functions import TruncHour

from logcenter.analytics import rollups, stats
from logcenter.core.pagination import keyset_page
from logcenter.core.selectors import purgeable_rows
from logcenter.engines.base import Engine
from logcenter.integrity import canonical
from logcenter.models import USAGE_ROLLUPS, UsageLedger, UsageRecord


class OrmEngine(Engine):
    name = "orm"

    # --- ingest ------------------------------------------------------------------------

    def store(self, kind, rows):
        if not rows:
            return 0
        model = kind.model
        if model is UsageRecord:
            # The ledger first: an id it holds is a duplicate, whatever its time.
            ledgered = set(UsageLedger.objects.filter(
                event_id__in=[r["event_id"] for r in rows]).values_list("event_id", flat=True))
            rows = [row for row in rows if row["event_id"] not in ledgered]
            UsageLedger.objects.bulk_create(
                [UsageLedger(event_id=row["event_id"], occurred_at=row["occurred_at"])
                 for row in rows], batch_size=500, ignore_conflicts=True)
        existing = set(model.objects.filter(event_id__in=[r["event_id"] for r in rows])
                       .values_list("event_id", flat=True))
        fresh = [model(**row) for row in rows if row["event_id"] not in existing]
        model.objects.bulk_create(fresh, batch_size=500, ignore_conflicts=True)
        if model is UsageRecord:
            self.rollup_add(fresh)
        return len(fresh)

    # --- listing -----------------------------------------------------------------------

    def page(self, kind, filterset, queryset, carried=None):
        # Every sort is read through its own (key, id) index.
        return keyset_page(queryset, filterset.ordering_value, filterset.cursor_value,
                           filterset.page_size_value), None

    def count_capped(self, queryset, cap):
        found = queryset.order_by()[: cap + 1].count()
        return min(found, cap), found > cap

    def estimate(self, queryset):
        return None

    # --- stats -------------------------------------------------------------------------

    def rollup_pending(self):
        return []  # rows add their sums to the rollups as they are stored

    def one_snapshot(self):
        return nullcontext()

    def buckets(self, query, pieces, edges, tz):
        """Merged and ranked in Python."""
        placed = []
        for piece in pieces:
            for when, dims, sums in stats._grouped(*piece, query):
                index = bisect_right(edges, stats._utc(when, tz)) - 1
                if 0 <= index < len(edges) - 1:  # else outside the range
                    placed.append(((edges[index], dims), sums))
        per_bucket = {}
        for (when, dims), sums in stats._merge(placed, query.measures).items():
            per_bucket.setdefault(when, {})[dims] = sums
        return {when: stats._ranked(query, groups) for when, groups in per_bucket.items()}

    def grouped_together(self, entries):
        return [stats._grouped(*piece, query) for piece, query in entries]

    def latest_calls(self, queryset, sample, since):
        latest = list(queryset.order_by("-occurred_at", "-id").values_list(
            "latency_ms", "occurred_at", "total_tokens")[:sample + 1])
        values = sorted(latency for latency, _, _ in latest)
        recent = [tokens for _, when, tokens in latest if when >= since]
        # percentile_disc: the first value whose cumulative share reaches 95 %.
        return {"p95": values[max(0, math.ceil(len(values) * 0.95) - 1)] if values else 0,
                "rows": len(latest), "oldest": latest[-1][1] if latest else None,
                "since_requests": len(recent), "since_tokens": sum(recent)}

    # --- rollups -----------------------------------------------------------------------

    def rollup_add(self, rows):
        if not rows:
            return
        with transaction.atomic():
            rollups.add_rows(rows)

    def rollup_fold(self):
        return 0  # nothing waits in an inbox

    def rollup_rebuild(self, start=None, end=None):
        rows, bounds = rollups.rebuild_scope(start, end)
        widest, narrower = USAGE_ROLLUPS[-1], USAGE_ROLLUPS[:-1]
        with transaction.atomic():
            rollups.rebuild_clear(bounds)
            grouped = (rows.annotate(hour=TruncHour("occurred_at", tzinfo=dt_timezone.utc))
                       .values("hour", *widest.DIMENSIONS)
                       .annotate(requests=Count("id"),
                                 **{c: Sum(s) for c, s in rollups.SUM_SOURCES.items() if s})
                       .order_by())
            _bulk_create(widest, grouped)
            for rollup in narrower:
                _bulk_create(rollup, ({k.removeprefix("sum_"): v for k, v in g.items()}
                                      for g in rollups.narrower_sums(rollup, bounds)))

    # --- retention ---------------------------------------------------------------------

    def purge_batch(self, model, before, batch_size, organization_id=None):
        rows = model.objects.all()
        if any(f.name == "organization_id" for f in model._meta.concrete_fields):
            rows = purgeable_rows(model, organization_id)  # the usage ledger has none
        with transaction.atomic():
            ids = list(rows.filter(occurred_at__lt=before)
                       .order_by("occurred_at").values_list("pk", flat=True)[:batch_size])
            model.objects.filter(pk__in=ids).delete()
            return len(ids)

    def drop_expired(self, kind, cutoff):
        return {}  # rows only: no partitions

    # --- planner upkeep ----------------------------------------------------------------

    def planner_upkeep(self):
        return []

    def prepare_ahead(self, start, end):
        return []  # one table takes any date

    # --- integrity ---------------------------------------------------------------------

    def row_leaves(self, model, after, upto=None, *, limit=None, with_time=False):
        return canonical.orm_leaves(model, after, upto, limit=limit, with_time=with_time)

    def try_exclusive(self, key):
        return nullcontext(True)  # the database serialises its writers (SQLite: one)

    def take_turn(self, name):
        pass

    def seal_horizons(self, kinds, settle, wait):
        return {kind.slug: None for kind in kinds}, ""  # a write is visible once done

    # --- bulk loads (seed_demo --usage) ------------------------------------------------

    def bulk_load(self, kind, fields, start, end, count):
        from logcenter.engines.orm.bulk_load import OrmBulkLoad

        return OrmBulkLoad(kind, fields, start, end, count)

    def after_bulk_load(self, models):
        pass  # the portable way leaves statistics to the database


def _bulk_create(rollup, groups):
    rollup.objects.bulk_create(
        [rollup(**{k: (v if v is not None else 0) for k, v in g.items()}) for g in groups],
        batch_size=2000)
