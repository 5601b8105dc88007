"""Monthly time partitions of the usage table (PostgreSQL only; SQLite keeps a plain table).

The usage table is range-partitioned by `occurred_at`, one partition per calendar month
(UTC), plus a default partition for anything outside them. A scheduled task creates the
coming months ahead; retention drops whole months that are past the policy instead of
deleting their rows one by one. The primary key is (id, occurred_at) and event_id is
unique per occurred_at, as PostgreSQL requires the partition key in unique indexes: a
re-sent event (same event_id and time) is still stored once.
"""

from datetime import datetime
from datetime import timezone as dt_timezone

from django.db import connection

from .models import UsageRecord

TABLE = UsageRecord._meta.db_table
DEFAULT_PARTITION = f"{TABLE}_default"


def month_start(value):
    return datetime(value.year, value.month, 1, tzinfo=dt_timezone.utc)


def next_month(value):
    return datetime(value.year + (value.month == 12), value.month % 12 + 1, 1,
                    tzinfo=dt_timezone.utc)


def partition_name(start):
    return f"{TABLE}_p{start:%Y_%m}"


def is_partitioned():
    if connection.vendor != "postgresql":
        return False
    with connection.cursor() as cur:
        cur.execute("SELECT 1 FROM pg_partitioned_table p JOIN pg_class c ON c.oid = p.partrelid "
                    "WHERE c.relname = %s", [TABLE])
        return cur.fetchone() is not None


def usage_partitions():
    """[(name, start, end)] of the monthly partitions, oldest first."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT c.relname, pg_get_expr(c.relpartbound, c.oid) FROM pg_inherits i "
            "JOIN pg_class c ON c.oid = i.inhrelid JOIN pg_class p ON p.oid = i.inhparent "
            "WHERE p.relname = %s ORDER BY c.relname", [TABLE])
        rows = cursor.fetchall()
    found = []
    for name, bound in rows:
        if name == DEFAULT_PARTITION:
            continue
        start = datetime.strptime(name[-7:], "%Y_%m").replace(tzinfo=dt_timezone.utc)
        found.append((name, start, next_month(start)))
    return found


def ensure_usage_partitions(start, end):
    """Create the monthly partitions covering [start, end]; returns the names created."""
    if connection.vendor != "postgresql":
        return []
    existing = {name for name, _, _ in usage_partitions()}
    created, month = [], month_start(start)
    with connection.cursor() as cur:
        while month <= end:
            name = partition_name(month)
            if name not in existing:
                cur.execute(f'CREATE TABLE IF NOT EXISTS "{name}" PARTITION OF "{TABLE}" '
                            f"FOR VALUES FROM (%s) TO (%s)", [month, next_month(month)])
                created.append(name)
            month = next_month(month)
    return created


def drop_usage_partitions_before(cutoff):
    """Drop whole months that end on or before `cutoff`; returns {name: rows}."""
    dropped = {}
    with connection.cursor() as cursor:
        for name, _, end in usage_partitions():
            if end <= cutoff:
                cursor.execute(f'SELECT count(*) FROM "{name}"')
                dropped[name] = cursor.fetchone()[0]
                cursor.execute(f'DROP TABLE "{name}"')
    return dropped
