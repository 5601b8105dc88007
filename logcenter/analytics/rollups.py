"""Hourly usage rollups (models.USAGE_ROLLUPS): kept current with the rows they sum.

- Ingestion on PostgreSQL appends the batch's sums to the rollup inbox in the same
  statement that inserts the rows (data-modifying CTEs), so rows and sums can never
  disagree. `rollup_fold()` moves the inbox into every rollup: a Celery beat job every
  few seconds, and ingestion asks for one at most every FOLD_SECONDS, so the rollups lag
  seconds behind; stats read the inbox too, so their answers never lag.
- Rows saved one at a time through the ORM (and every write on SQLite) add theirs to the
  rollups directly.
- Bulk loads (seed_demo) call rollup_rebuild() for the hours they touched.
"""

import logging
import time
from collections import defaultdict
from datetime import timedelta
from datetime import timezone as dt_timezone
from decimal import Decimal

from django.db import connection, transaction
from django.db.models import Count, Sum
from django.db.models.functions import TruncHour

from logcenter.models import USAGE_ROLLUPS, UsageRecord, UsageRollupInbox

logger = logging.getLogger(__name__)
FOLD_SECONDS = 10
# One fold (or rebuild) at a time: they upsert the same rollup rows.
FOLD_LOCK = 0x4C43_524F  # 'LCRO'

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


def upsert_sql(rollup, source_sql, upsert=True, hour_order=False):
    """(PostgreSQL) Add the sums of `source_sql` (raw usage columns) to one rollup (or, with
    upsert=False, append them: the inbox has no key to meet)."""
    table, dims = rollup._meta.db_table, _quoted(rollup.DIMENSIONS)
    sums = ", ".join("count(*)" if src is None else f'sum("{src}")'
                     for src in SUM_SOURCES.values())
    hour = "date_trunc('hour', occurred_at)"  # the session is in UTC
    return (f"INSERT INTO {table} (hour, {dims}, {_quoted(SUM_SOURCES)}) "
            f"SELECT {hour}, {dims}, {sums} FROM ({source_sql}) AS rolled "
            f"GROUP BY {hour}, {dims}" + (f" ORDER BY {hour}" if hour_order else "")
            + (f" ON CONFLICT (hour, {dims}) DO UPDATE SET {_additive_update(table)}"
               if upsert else ""))


def ingest_with_rollups_sql(insert_sql, before=()):
    """One statement: insert the rows, append their sums to the inbox, return how many.
    `before`: common table expressions the insert may read (ingestion's ledger)."""
    columns = _quoted(["occurred_at", *RAW_COLUMNS])
    inbox = upsert_sql(UsageRollupInbox, "SELECT * FROM inserted", upsert=False)
    return (f"WITH {''.join(f'{cte}, ' for cte in before)}"
            f"inserted AS ({insert_sql} RETURNING {columns}), inboxed AS ({inbox}) "
            f"SELECT count(*) FROM inserted")


def rollup_fold():
    """(PostgreSQL) Move the inbox into every rollup in one statement; returns the inbox
    rows folded, or None when another fold holds the lock."""
    inbox = UsageRollupInbox._meta.db_table
    sums = _quoted(SUM_SOURCES)
    ctes = [f"taken AS (DELETE FROM {inbox} RETURNING hour, "
            f"{_quoted(UsageRollupInbox.DIMENSIONS)}, {sums})"]
    for index, rollup in enumerate(USAGE_ROLLUPS):
        table, dims = rollup._meta.db_table, _quoted(rollup.DIMENSIONS)
        added = ", ".join(f'sum("{c}")' for c in SUM_SOURCES)
        ctes.append(f"folded_{index} AS (INSERT INTO {table} (hour, {dims}, {sums}) "
                    f"SELECT hour, {dims}, {added} FROM taken GROUP BY hour, {dims} "
                    f"ON CONFLICT (hour, {dims}) DO UPDATE SET {_additive_update(table)})")
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_xact_lock(%s)", [FOLD_LOCK])
        if not cursor.fetchone()[0]:
            return None
        cursor.execute(f"WITH {', '.join(ctes)} SELECT count(*) FROM taken")
        return cursor.fetchone()[0]


_last_fold_request = 0.0


def rollup_fold_soon():
    """Ask for a fold at most every FOLD_SECONDS per process (beat also runs one), so the
    inbox stays small even where no beat runs; a broker outage only delays it."""
    global _last_fold_request
    now = time.monotonic()
    if now - _last_fold_request < FOLD_SECONDS:
        return
    _last_fold_request = now
    from logcenter.tasks import usage_rollups_fold

    try:
        usage_rollups_fold.delay()
    except Exception as error:  # the broker is down: beat or a later batch will fold
        logger.warning("could not queue a rollup fold: %s", error)


def rollup_add(rows):
    """Add UsageRecord instances (saved one by one, or bulk-created) to every rollup."""
    if not rows:
        return
    with transaction.atomic():
        if connection.vendor == "postgresql":  # wait out a rebuild; run beside each other
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_xact_lock_shared(%s)", [FOLD_LOCK])
        _rollup_add(rows)


def _rollup_add(rows):
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
            if connection.vendor != "postgresql":
                hour = hour.strftime("%Y-%m-%d %H:00:00")  # how Django stores it there
            params.append([hour, *dims, *[sums[c] if c in ("cost", "credits")
                                          else int(sums[c]) for c in SUM_SOURCES]])
        with connection.cursor() as cursor:
            cursor.executemany(sql, params)


def rollup_rebuild(start=None, end=None):
    """Recompute every rollup for whole hours in [start, end] (everything when omitted).

    The widest rollup is summed from the raw rows, the narrower ones from it: one pass
    over the raw rows instead of one per rollup. On PostgreSQL no fold runs meanwhile, and
    (called outside a transaction) one snapshot is read, taken once the lock is held, so
    the raw rows summed and the inbox rows dropped agree.
    """
    if connection.vendor == "postgresql" and not connection.in_atomic_block:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_lock(%s)", [FOLD_LOCK])
        try:
            return _rollup_rebuild(start, end, snapshot=True)
        finally:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_unlock(%s)", [FOLD_LOCK])
    return _rollup_rebuild(start, end, snapshot=False)


def _rollup_rebuild(start, end, snapshot):
    rows = UsageRecord.objects.all()
    bounds = {}
    if start is not None:
        start = start.replace(minute=0, second=0, microsecond=0)
        rows, bounds["hour__gte"] = rows.filter(occurred_at__gte=start), start
    if end is not None:
        end = end.replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
        rows, bounds["hour__lt"] = rows.filter(occurred_at__lt=end), end
    widest, narrower = USAGE_ROLLUPS[-1], USAGE_ROLLUPS[:-1]
    with transaction.atomic():
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                if snapshot:  # the session lock is held already
                    cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
                else:
                    cursor.execute("SELECT pg_advisory_xact_lock(%s)", [FOLD_LOCK])
        for rollup in (*USAGE_ROLLUPS, UsageRollupInbox):
            rollup.objects.filter(**bounds).delete()
        if connection.vendor == "postgresql":
            source, params = rows.values("occurred_at", *RAW_COLUMNS).query.sql_with_params()
            with connection.cursor() as cursor:
                # In hour order: a range of hours is then a few neighbouring pages.
                cursor.execute(upsert_sql(widest, source, hour_order=True), params)
        else:
            grouped = (rows.annotate(hour=TruncHour("occurred_at", tzinfo=dt_timezone.utc))
                       .values("hour", *widest.DIMENSIONS)
                       .annotate(requests=Count("id"),
                                 **{c: Sum(s) for c, s in SUM_SOURCES.items() if s})
                       .order_by())
            _bulk_create(widest, grouped)
        for rollup in narrower:
            grouped = (widest.objects.filter(**bounds).values("hour", *rollup.DIMENSIONS)
                       .annotate(**{f"sum_{c}": Sum(c) for c in SUM_SOURCES}).order_by("hour"))
            if connection.vendor != "postgresql":
                _bulk_create(rollup, ({k.removeprefix("sum_"): v for k, v in g.items()}
                                      for g in grouped))
                continue
            sql, params = grouped.query.sql_with_params()
            columns = _quoted(["hour", *rollup.DIMENSIONS, *SUM_SOURCES])
            with connection.cursor() as cursor:
                cursor.execute(f"INSERT INTO {rollup._meta.db_table} ({columns}) {sql}", params)
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                for rollup in USAGE_ROLLUPS:  # the owner's function: ANALYZE needs the owner
                    cursor.execute("SELECT logcenter_analyze(%s)", [rollup._meta.db_table])


def _bulk_create(rollup, groups):
    rollup.objects.bulk_create(
        [rollup(**{k: (v if v is not None else 0) for k, v in g.items()}) for g in groups],
        batch_size=2000)
