"""Hourly usage rollups (UsageHourly): kept current with the rows they sum.

- Ingestion on PostgreSQL adds the batch's sums in the same statement that inserts the
  rows (a data-modifying CTE), so the two can never disagree.
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

from .models import USAGE_ROLLUP_DIMENSIONS, UsageHourly, UsageRecord

TABLE = UsageHourly._meta.db_table
# rollup column <- raw expression
SUM_SOURCES = {
    "requests": None,  # count(*)
    "prompt_tokens": "prompt_tokens",
    "completion_tokens": "completion_tokens",
    "cached_tokens": "cached_tokens",
    "total_tokens": "total_tokens",
    "cost": "cost",
    "quota": "quota",
    "credits": "credits",
    "latency_ms_sum": "latency_ms",
}


def _quoted(names):
    return ", ".join(f'"{n}"' for n in names)


def upsert_sql(source_sql):
    """(PostgreSQL) INSERT the sums of `source_sql` (rows with the raw usage columns) into the rollup,
    adding to the hours and dimensions that exist."""
    dims = _quoted(USAGE_ROLLUP_DIMENSIONS)
    sums = ", ".join("count(*)" if src is None else f'sum("{src}")'
                     for src in SUM_SOURCES.values())
    hour = "date_trunc('hour', occurred_at)"  # PostgreSQL only; the session is in UTC
    updates = ", ".join(f'"{c}" = {TABLE}."{c}" + excluded."{c}"' for c in SUM_SOURCES)
    return (
        f'INSERT INTO {TABLE} (hour, {dims}, {_quoted(SUM_SOURCES)}) '
        f"SELECT {hour}, {dims}, {sums} FROM ({source_sql}) AS rolled "
        f"GROUP BY {hour}, {dims} "
        f"ON CONFLICT (hour, {dims}) DO UPDATE SET {updates}"
    )


def rollup_add(rows):
    """Add UsageRecord instances (saved one by one) to the rollup."""
    groups = defaultdict(lambda: defaultdict(Decimal))
    for row in rows:
        hour = row.occurred_at.astimezone(dt_timezone.utc).replace(minute=0, second=0,
                                                                  microsecond=0)
        key = (hour, *(getattr(row, d) for d in USAGE_ROLLUP_DIMENSIONS))
        sums = groups[key]
        sums["requests"] += 1
        for column, source in SUM_SOURCES.items():
            if source is not None:
                sums[column] += Decimal(getattr(row, source) or 0)
    if not groups:
        return
    dims = _quoted(USAGE_ROLLUP_DIMENSIONS)
    columns = ["hour", *USAGE_ROLLUP_DIMENSIONS, *SUM_SOURCES]
    placeholders = ", ".join(["%s"] * len(columns))
    updates = ", ".join(f'"{c}" = {TABLE}."{c}" + excluded."{c}"' for c in SUM_SOURCES)
    sql = (f"INSERT INTO {TABLE} ({_quoted(columns)}) VALUES ({placeholders}) "
           f"ON CONFLICT (hour, {dims}) DO UPDATE SET {updates}")
    params = []
    for key, sums in groups.items():
        hour, *dim_values = key
        if connection.vendor != "postgresql":
            hour = hour.strftime("%Y-%m-%d %H:00:00")
        values = [int(sums[c]) if c not in ("cost", "credits") else sums[c]
                  for c in SUM_SOURCES]
        params.append([hour, *dim_values, *values])
    with connection.cursor() as cursor:
        cursor.executemany(sql, params)


def rollup_rebuild(start=None, end=None):
    """Recompute the rollup for whole hours in [start, end) (everything when omitted)."""
    rows = UsageRecord.objects.all()
    hours = UsageHourly.objects.all()
    if start is not None:
        start = start.replace(minute=0, second=0, microsecond=0)
        rows, hours = rows.filter(occurred_at__gte=start), hours.filter(hour__gte=start)
    if end is not None:
        end = end.replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
        rows, hours = rows.filter(occurred_at__lt=end), hours.filter(hour__lt=end)
    with transaction.atomic():
        hours.delete()
        if connection.vendor == "postgresql":
            source, params = rows.values(
                "occurred_at", *USAGE_ROLLUP_DIMENSIONS,
                *[s for s in SUM_SOURCES.values() if s]).query.sql_with_params()
            with connection.cursor() as cursor:
                cursor.execute(upsert_sql(source), params)
            return
        grouped = (rows.annotate(hour=TruncHour("occurred_at", tzinfo=dt_timezone.utc))
                   .values("hour", *USAGE_ROLLUP_DIMENSIONS)
                   .annotate(requests=Count("id"),
                             **{c: Sum(s) for c, s in SUM_SOURCES.items() if s})
                   .order_by())
        UsageHourly.objects.bulk_create(
            [UsageHourly(**{k: (v if v is not None else 0) for k, v in g.items()})
             for g in grouped], batch_size=2000)
