"""Hourly usage rollups (models.USAGE_ROLLUPS): kept current with the rows they sum.

- Ingestion on PostgreSQL adds the batch's sums to every rollup in the same statement
  that inserts the rows (data-modifying CTEs), so rows and sums can never disagree.
- Rows saved one at a time through the ORM add theirs from a post_save signal.
- Bulk loads (seed_demo) call rollup_rebuild() for the hours they touched.
"""

from collections import defaultdict
from datetime import timedelta
from datetime import timezone as dt_timezone
from decimal import Decimal

from django.db import connection, transaction
from django.db.models import Count, Sum
from django.db.models.functions import TruncHour

from .models import USAGE_ROLLUPS, UsageRecord

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


def upsert_sql(rollup, source_sql):
    """(PostgreSQL) Add the sums of `source_sql` (raw usage columns) to one rollup."""
    table, dims = rollup._meta.db_table, _quoted(rollup.DIMENSIONS)
    sums = ", ".join("count(*)" if src is None else f'sum("{src}")'
                     for src in SUM_SOURCES.values())
    hour = "date_trunc('hour', occurred_at)"  # the session is in UTC
    return (f"INSERT INTO {table} (hour, {dims}, {_quoted(SUM_SOURCES)}) "
            f"SELECT {hour}, {dims}, {sums} FROM ({source_sql}) AS rolled "
            f"GROUP BY {hour}, {dims} "
            f"ON CONFLICT (hour, {dims}) DO UPDATE SET {_additive_update(table)}")


def ingest_with_rollups_sql(insert_sql):
    """One statement: insert the rows, add them to every rollup, return how many."""
    ctes = [f"inserted AS ({insert_sql} RETURNING *)"]
    for index, rollup in enumerate(USAGE_ROLLUPS):
        ctes.append(f"rolled_{index} AS ({upsert_sql(rollup, 'SELECT * FROM inserted')})")
    return f"WITH {', '.join(ctes)} SELECT count(*) FROM inserted"


def rollup_add(rows):
    """Add UsageRecord instances (saved one by one, or bulk-created) to every rollup."""
    if not rows:
        return
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
    """Recompute every rollup for whole hours in [start, end] (everything when omitted)."""
    rows = UsageRecord.objects.all()
    bounds = {}
    if start is not None:
        start = start.replace(minute=0, second=0, microsecond=0)
        rows, bounds["hour__gte"] = rows.filter(occurred_at__gte=start), start
    if end is not None:
        end = end.replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
        rows, bounds["hour__lt"] = rows.filter(occurred_at__lt=end), end
    with transaction.atomic():
        for rollup in USAGE_ROLLUPS:
            rollup.objects.filter(**bounds).delete()
            if connection.vendor == "postgresql":
                source, params = rows.values("occurred_at", *RAW_COLUMNS).query.sql_with_params()
                with connection.cursor() as cursor:
                    cursor.execute(upsert_sql(rollup, source), params)
                    cursor.execute(f"ANALYZE {rollup._meta.db_table}")
                continue
            grouped = (rows.annotate(hour=TruncHour("occurred_at", tzinfo=dt_timezone.utc))
                       .values("hour", *rollup.DIMENSIONS)
                       .annotate(requests=Count("id"),
                                 **{c: Sum(s) for c, s in SUM_SOURCES.items() if s})
                       .order_by())
            rollup.objects.bulk_create(
                [rollup(**{k: (v if v is not None else 0) for k, v in g.items()})
                 for g in grouped], batch_size=2000)
