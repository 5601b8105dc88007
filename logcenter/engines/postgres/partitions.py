"""Monthly time partitions of the usage table (PostgreSQL only; SQLite keeps a plain table).

The usage table is range-partitioned by `occurred_at`, one partition per calendar month
(UTC), plus a default partition for anything outside them. A scheduled task creates the
coming months ahead; retention drops whole months that are past the policy instead of
deleting their rows one by one. The primary key is (id, occurred_at) and event_id is
unique per occurred_at, as PostgreSQL requires the partition key in unique indexes: a
re-sent event (same event_id and time) is still stored once.
"""

import logging
from contextlib import contextmanager
from datetime import datetime
from datetime import timezone as dt_timezone

from django.db import connection, transaction

from logcenter.engines.postgres.locks import session_lock
from logcenter.integrity.removals import partition_drop
from logcenter.models import UsageRecord

logger = logging.getLogger(__name__)
TABLE = UsageRecord._meta.db_table
DEFAULT_PARTITION = f"{TABLE}_default"
# Held while partitions come or go, or their indexes are rebuilt (the months-ahead job,
# retention's drops, the demo loader, ReplaceIndexesOnline): they take turns.
LAYOUT_LOCK = 0x4C43_5041  # 'LCPA'


@contextmanager
def layout_locked(*, wait):
    """Hold LAYOUT_LOCK for the block; yields whether it is held (with wait=False, False
    when someone else holds it). A session lock: it outlives the block's transactions."""
    if connection.vendor != "postgresql":
        yield True
        return
    with session_lock(LAYOUT_LOCK, wait=wait) as held:
        yield held


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


def bounds_within(start, end):
    """The monthly partitions' bounds inside (start, end), oldest first (`start` None: from
    the beginning). Only partitions that exist: a window reaching far past them (an
    end_time in 9999) cuts no more than they do."""
    bounds = {when for _, first, last in usage_partitions() for when in (first, last)}
    return sorted(b for b in bounds if (start is None or b > start) and b < end)


def ensure_usage_partitions(start, end, *, wait=False):
    """Create the monthly partitions covering [start, end]; returns the names created.

    Without `wait`, creates none while the layout is busy (an index rebuild): the
    scheduled job runs daily and keeps months in hand, so a skipped day costs nothing."""
    if connection.vendor != "postgresql":
        return []
    with layout_locked(wait=wait) as held:
        if not held:
            logger.info("usage partitions: layout busy (an index rebuild?), next run creates them")
            return []
        existing = {name for name, _, _ in usage_partitions()}
        created, month = [], month_start(start)
        with connection.cursor() as cur:
            while month <= end:
                name = partition_name(month)
                if name not in existing:
                    # The owner's function (migration 0019): the app role owns no table.
                    cur.execute("SELECT logcenter_create_usage_partition(%s)", [month])
                    created.append(name)
                month = next_month(month)
    return created


def drop_usage_partitions_before(cutoff):
    """Drop whole months that end on or before `cutoff`; returns {name: rows}, or None
    when the layout is busy (an index rebuild): those months go on a later run. A month
    holding rows of an organization on legal hold stays (its other rows are purged one
    batch at a time)."""
    dropped = {}
    with layout_locked(wait=False) as held, connection.cursor() as cursor:
        if not held:
            return None
        cursor.execute("SELECT logcenter_held_organizations()")
        on_hold = cursor.fetchone()[0]
        for name, _, end in usage_partitions():
            if end <= cutoff and not _holds_any(cursor, name, on_hold):
                # The owner's function counts and drops it, once it has checked that the
                # whole month is past the retention policy (migration 0019).
                # Its rows go on record (logcenter.integrity) in the drop's transaction.
                with partition_drop(UsageRecord, name, before=cutoff) as drop:
                    cursor.execute("SELECT logcenter_drop_usage_partition(%s)", [name])
                    dropped[name] = drop.check(cursor.fetchone()[0])
    return dropped


def _holds_any(cursor, partition, organization_ids):
    """Whether the partition holds a row of one of these organizations (their index)."""
    if not organization_ids:
        return False
    cursor.execute(f'SELECT EXISTS (SELECT 1 FROM "{partition}" WHERE organization_id = '
                   "ANY (%s))", [list(organization_ids)])
    return cursor.fetchone()[0]


def bulk_load_tables(start, end):
    """For a bulk load: an index-free table per month in [start, end]; returns {month: name}.

    Rows COPYed into these cost no index upkeep; `bulk_load_swap` then builds every index
    once per month, which is several times faster than maintaining them row by row.
    """
    ensure_usage_partitions(start, end, wait=True)
    tables = {}
    with connection.cursor() as cursor:
        for name, month, month_end in usage_partitions():
            if month_end <= start or month > end:
                continue
            load = f"{name}_load"
            cursor.execute(f'DROP TABLE IF EXISTS "{load}"')
            # No identity either: the loader reserves ids from the parent's sequence.
            cursor.execute(f'CREATE TABLE "{load}" (LIKE "{TABLE}" INCLUDING DEFAULTS)')
            tables[month] = load
    return tables


def _index_statements(load, prefix):
    """The parent's constraints and indexes, as statements for one load table."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint "
                       "WHERE conrelid = %s::regclass AND contype IN ('p', 'u') ORDER BY conname",
                       [TABLE])
        constraints = [f'ALTER TABLE "{load}" ADD CONSTRAINT "{prefix}_c{n}" {definition}'
                       for n, (_, definition) in enumerate(cursor.fetchall())]
        # Valid ones only: an invalid index is one an interrupted rebuild left behind.
        cursor.execute("SELECT pg_get_indexdef(i.indexrelid) FROM pg_index i "
                       "WHERE i.indrelid = %s::regclass AND i.indisvalid AND NOT EXISTS ("
                       "SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid) ORDER BY 1",
                       [TABLE])
        indexes = []
        for n, (definition,) in enumerate(cursor.fetchall()):
            columns = definition[definition.index(" USING "):]
            indexes.append(f'CREATE INDEX "{prefix}_i{n}" ON "{load}"{columns}')
    return constraints, indexes


def _run_parallel(statements, workers=2):
    """Run statements on `workers` connections of their own, taking the next when free."""
    import queue
    import threading

    from django.db import connections

    pending, errors = queue.Queue(), []
    for statement in statements:
        pending.put(statement)

    def work():
        try:
            with connection.cursor() as cursor:  # this thread's own connection
                cursor.execute("SET maintenance_work_mem = '1GB'")
                cursor.execute("SET max_parallel_maintenance_workers = 0")
                while not errors:
                    try:
                        statement = pending.get_nowait()
                    except queue.Empty:
                        return
                    cursor.execute(statement)
        except Exception as error:  # surfaced in the calling thread
            errors.append(error)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=work) for _ in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]


def bulk_load_swap(tables, workers=2):
    """Swap each load table in for its month's partition.

    First every load table gets the parent's constraints and indexes, built on `workers`
    connections side by side (one sort per index, instead of row-by-row upkeep). Then, in
    one transaction, the partition's existing rows join the load table, which takes the
    partition's name and is attached: PostgreSQL adopts the matching indexes and clones the
    append-only trigger. Until the commit, readers see the old partitions. The layout is
    held throughout, so the indexes read at the start are the ones the parent still has.
    """
    with layout_locked(wait=True):
        _swap_in(tables, workers)


def _swap_in(tables, workers):
    import secrets

    token = secrets.token_hex(3)
    constraints, indexes = [], []
    for month, load in sorted(tables.items()):
        table_constraints, table_indexes = _index_statements(
            load, f"{partition_name(month)}_{token}")
        # Unique constraints take an exclusive lock on their table: one statement a table.
        constraints.append("; ".join([
            *table_constraints,
            f'ALTER TABLE "{load}" ADD CONSTRAINT "{load}_{token}_bound" CHECK '
            f"(occurred_at >= '{month.isoformat()}' "
            f"AND occurred_at < '{next_month(month).isoformat()}')"]))
        indexes.extend(table_indexes)
    _run_parallel(constraints, workers)
    _run_parallel(indexes, workers)
    columns = ", ".join(f'"{f.column}"' for f in UsageRecord._meta.concrete_fields)
    with transaction.atomic(), connection.cursor() as cursor:
        for month, load in sorted(tables.items()):
            name = partition_name(month)
            cursor.execute(f'ALTER TABLE "{TABLE}" DETACH PARTITION "{name}"')
            cursor.execute(f'INSERT INTO "{load}" ({columns}) SELECT {columns} FROM "{name}"')
            cursor.execute(f'DROP TABLE "{name}"')
            cursor.execute(f'ALTER TABLE "{load}" RENAME TO "{name}"')
            # The CHECK constraint spares the attach a scan proving the bound.
            cursor.execute(f'ALTER TABLE "{TABLE}" ATTACH PARTITION "{name}" '
                           f"FOR VALUES FROM (%s) TO (%s)", [month, next_month(month)])
            cursor.execute(f'ALTER TABLE "{name}" DROP CONSTRAINT "{load}_{token}_bound"')
    # What autovacuum would do next, done now: statistics for the planner, and the
    # visibility map that lets index-only scans (capped counts) skip the table.
    _run_parallel([f'VACUUM (FREEZE, ANALYZE) "{partition_name(month)}"'
                   for month in sorted(tables)], workers)


def reserve_ids(count):
    """Take `count` consecutive ids from the usage table's sequence; returns the first.

    For bulk loads only: a concurrent insert between the two calls could take an id inside
    the block (the swap would then fail on the primary key, and roll back).
    """
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_get_serial_sequence(%s, 'id')", [TABLE])
        sequence = cursor.fetchone()[0]
        cursor.execute("SELECT setval(%s, nextval(%s) + %s - 1)", [sequence, sequence, count])
        return cursor.fetchone()[0] - count + 1
