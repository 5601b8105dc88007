"""Keep PostgreSQL's planner statistics of the log tables fresh (a beat job).

Autovacuum analyzes a table once 10 % of it has changed: for a month's usage partition of
millions of rows that is days of ingestion. Meanwhile a value that is new since the last
ANALYZE (an API key that started calling today) is estimated at a row or two, and for
"its newest 50 calls" the planner then prefers reading every one of its rows and sorting
them over walking the (api_key, occurred_at) index: 270 ms instead of 1 ms on 60,000 rows.
So the log and rollup tables are analyzed here once a small share of them has changed, and
any table that was never analyzed since it got rows (a new month's partition, a table last
analyzed empty) as soon as it has any: until then the planner takes it for empty.

They are vacuumed at the same time: an insert-only partition is vacuumed by autovacuum only
once a fifth of it is new, and until then its new pages are not marked all-visible, so the
index-only reads (capped counts, ranking a filter's matches by cost) fetch every new row
from the table as well.
"""

from django.db import connection

from logcenter.models import USAGE_ROLLUPS, UsageRecord
from logcenter.core.registry import registry

# Analyze a table once this many rows, or this share of it, changed since its last ANALYZE
# (the larger of the two).
STALE_ROWS = 5_000
STALE_SHARE = 0.02


def log_tables():
    """The tables the lists and stats plan against: every kind's, the rollups."""
    return [kind.model._meta.db_table for kind in registry] + [
        rollup._meta.db_table for rollup in USAGE_ROLLUPS]


def stale_tables(stale_rows=STALE_ROWS, stale_share=STALE_SHARE):
    """The log tables (usage: its partitions) changed enough since their last ANALYZE, or
    changed at all since they were last analyzed empty (reltuples 0) or never (-1, or no
    ANALYZE on record: a VACUUM alone counts the rows but gathers no statistics)."""
    names = log_tables()
    with connection.cursor() as cursor:
        cursor.execute(
            # A partition's own counters, not its parent's (whose counters stay at zero).
            "SELECT s.relname FROM pg_stat_user_tables s "
            "JOIN pg_class c ON c.oid = s.relid "
            "LEFT JOIN pg_inherits i ON i.inhrelid = s.relid "
            "WHERE (s.relname = ANY(%s) OR i.inhparent = %s::regclass) "
            "AND (s.n_mod_since_analyze > greatest(%s, %s * s.n_live_tup) "
            "     OR (s.n_mod_since_analyze > 0 AND (c.reltuples <= 0 OR "
            "         coalesce(s.last_analyze, s.last_autoanalyze) IS NULL))) "
            "ORDER BY s.relname",
            [names, UsageRecord._meta.db_table, stale_rows, stale_share])
        return [row[0] for row in cursor.fetchall()]


def refresh_stale_tables(**thresholds):
    """ANALYZE each stale log table; returns their names (PostgreSQL; SQLite plans without).

    Through the owner's `logcenter_analyze` (migration 0019): ANALYZE needs the table's
    owner, and the app role owns nothing. Vacuuming (the visibility map that index-only
    reads use) is autovacuum's, which runs as the owner."""
    if connection.vendor != "postgresql":
        return []
    stale = stale_tables(**thresholds)
    with connection.cursor() as cursor:
        for name in stale:
            cursor.execute("SELECT logcenter_analyze(%s)", [name])
    return stale
