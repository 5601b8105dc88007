"""Hourly usage rollups (models.USAGE_ROLLUPS): kept current with the rows they sum.

How they are kept current is the usage kind's engine's (logcenter.engines):
- the PostgreSQL engine appends each batch's sums to the rollup inbox in the statement
  that inserts the rows, and `rollup_fold()` moves the inbox into every rollup (a Celery
  beat job every few seconds, and ingestion asks for one at most every FOLD_SECONDS), so
  the rollups lag seconds behind; stats read the inbox too, so their answers never lag;
- the portable engine adds every stored batch's sums to the rollups directly, as do rows
  saved one at a time through the ORM on either engine (`rollup_add`).
Bulk loads (seed_demo) and purges call rollup_rebuild() for the hours they touched.
"""

import logging
import time
import uuid
from collections import defaultdict
from datetime import timedelta
from datetime import timezone as dt_timezone
from decimal import Decimal

from celery import shared_task
from django.db import connection
from django.db.models import Sum
from django.utils import timezone

from logcenter.engines import engine_for
from logcenter.models import (
    CLOSED_HOURS_LAG, USAGE_ROLLUPS, UsageRecord, UsageRollupEpoch, UsageRollupInbox,
)

logger = logging.getLogger(__name__)
# Stats read what still waits in the inbox, so a full inbox slows every usage panel: at
# 2,000 events a second, asked every 10 s the inbox held up to 20,000 rows and the panels
# took p95 305 ms under load; every 3 s, 1,000-4,000 rows and 217 ms (a fold of 4,000 rows
# takes about 0.1 s of one worker; 2026-12-05).
FOLD_SECONDS = 3

# rollup column <- raw column (None: count of rows)
SUM_SOURCES = {
    "requests": None,
    "prompt_tokens": "prompt_tokens",
    "completion_tokens": "completion_tokens",
    "cached_tokens": "cached_tokens",
    "total_tokens": "total_tokens",
    "cost": "cost",
    "quota": "quota",
    "credits": "credits",
    "latency_ms_sum": "latency_ms",
}
RAW_COLUMNS = sorted({d for rollup in USAGE_ROLLUPS for d in rollup.DIMENSIONS}
                     | {s for s in SUM_SOURCES.values() if s})


def _quoted(names):
    return ", ".join(f'"{n}"' for n in names)


def _additive_update(table):
    return ", ".join(f'"{c}" = {table}."{c}" + excluded."{c}"' for c in SUM_SOURCES)


def rollup_fold():
    """Fold the sums ingested since the last fold into every rollup: the inbox rows
    folded (0 where there is no inbox), or None when another fold is running."""
    return engine_for(UsageRecord).rollup_fold()


_last_fold_request = 0.0


def rollup_fold_soon():
    """Ask for a fold at most every FOLD_SECONDS per process (beat also runs one), so the
    inbox stays small even where no beat runs; a broker outage only delays it."""
    global _last_fold_request
    now = time.monotonic()
    if now - _last_fold_request < FOLD_SECONDS:
        return
    _last_fold_request = now
    try:
        usage_rollups_fold.delay()
    except Exception as error:  # the broker is down: beat or a later batch will fold
        logger.warning("could not queue a rollup fold: %s", error)


def rollup_add(rows):
    """Add UsageRecord instances (saved one by one, or bulk-created) to every rollup."""
    engine_for(UsageRecord).rollup_add(rows)


# A writer counts a change to closed hours an hour sooner than readers take hours for
# closed: a margin for clocks and for a transaction that began before the reader's.
LATE_AFTER = CLOSED_HOURS_LAG - timedelta(hours=1)


def late_horizon(now=None):
    """Rows of hours before this are late: adding them changes closed hours."""
    now = now or timezone.now()
    return now.replace(minute=0, second=0, microsecond=0) - LATE_AFTER


def closed_hours_changed():
    """A new version of the rollups' closed hours, in the caller's transaction (stats'
    cached answers about closed hours are keyed by it)."""
    UsageRollupEpoch.objects.update_or_create(
        id=1, defaults={"closed_hours_version": uuid.uuid4()})


def add_rows(rows):
    """(The engines') Upsert the rows' sums into every rollup, in the caller's transaction."""
    horizon = late_horizon()
    if any(row.occurred_at < horizon for row in rows):
        closed_hours_changed()
    for rollup in USAGE_ROLLUPS:
        groups = defaultdict(lambda: defaultdict(Decimal))
        for row in rows:
            hour = row.occurred_at.astimezone(dt_timezone.utc).replace(
                minute=0, second=0, microsecond=0)
            sums = groups[(hour, *(getattr(row, d) for d in rollup.DIMENSIONS))]
            sums["requests"] += 1
            for column, source in SUM_SOURCES.items():
                if source is not None:
                    sums[column] += Decimal(getattr(row, source) or 0)
        table = rollup._meta.db_table
        columns = ["hour", *rollup.DIMENSIONS, *SUM_SOURCES]
        sql = (f"INSERT INTO {table} ({_quoted(columns)}) "
               f"VALUES ({', '.join(['%s'] * len(columns))}) "
               f"ON CONFLICT (hour, {_quoted(rollup.DIMENSIONS)}) "
               f"DO UPDATE SET {_additive_update(table)}")
        params = []
        for (hour, *dims), sums in groups.items():
            # A raw statement: the hour as the database's own datetime parameter.
            hour = connection.ops.adapt_datetimefield_value(hour)
            params.append([hour, *dims, *[sums[c] if c in ("cost", "credits")
                                          else int(sums[c]) for c in SUM_SOURCES]])
        with connection.cursor() as cursor:
            cursor.executemany(sql, params)


def rollup_rebuild(start=None, end=None):
    """Recompute every rollup for whole hours in [start, end] (everything when omitted).

    The widest rollup is summed from the raw rows, the narrower ones from it: one pass
    over the raw rows instead of one per rollup (the engine's rollup_rebuild)."""
    return engine_for(UsageRecord).rollup_rebuild(start, end)


def rebuild_scope(start, end):
    """(raw rows, rollup bounds) of a rebuild of the whole hours in [start, end]."""
    rows = UsageRecord.objects.all()
    bounds = {}
    if start is not None:
        start = start.replace(minute=0, second=0, microsecond=0)
        rows, bounds["hour__gte"] = rows.filter(occurred_at__gte=start), start
    if end is not None:
        end = end.replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
        rows, bounds["hour__lt"] = rows.filter(occurred_at__lt=end), end
    return rows, bounds


def rebuild_clear(bounds):
    """Drop the rollup (and inbox) rows a rebuild recomputes."""
    closed_hours_changed()
    for rollup in (*USAGE_ROLLUPS, UsageRollupInbox):
        rollup.objects.filter(**bounds).delete()


def narrower_sums(rollup, bounds):
    """A narrower rollup's rows (hour, dimensions, sum_<column>) summed from the widest."""
    widest = USAGE_ROLLUPS[-1]
    return (widest.objects.filter(**bounds).values("hour", *rollup.DIMENSIONS)
            .annotate(**{f"sum_{c}": Sum(c) for c in SUM_SOURCES}).order_by("hour"))


@shared_task(name="logcenter.usage_rollups_fold", ignore_result=True)
def usage_rollups_fold():
    """Fold freshly ingested usage sums into the hourly rollups (every few seconds)."""
    return rollup_fold()  # 0 where the engine keeps no inbox
