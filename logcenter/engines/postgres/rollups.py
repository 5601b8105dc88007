"""The usage rollups on PostgreSQL: ingestion appends each batch's sums to the rollup inbox
in the statement that inserts the rows (data-modifying CTEs), so rows and sums can never
disagree; `rollup_fold()` moves the inbox into every rollup (a beat job every few
seconds, and ingestion asks for one at most every analytics.rollups.FOLD_SECONDS).
A fold or a rebuild holds FOLD_LOCK; rows added one by one take it shared."""

from django.db import connection, transaction

from logcenter.analytics.rollups import (
    RAW_COLUMNS, SUM_SOURCES, _additive_update, _quoted, add_rows, late_horizon,
    narrower_sums, rebuild_clear, rebuild_scope,
)
from logcenter.models import USAGE_ROLLUPS, UsageRollupEpoch, UsageRollupInbox

# One fold (or rebuild) at a time: they upsert the same rollup rows.
FOLD_LOCK = 0x4C43_524F  # 'LCRO'


def upsert_sql(rollup, source_sql, upsert=True, hour_order=False):
    """Add the sums of `source_sql` (raw usage columns) to one rollup (or, with
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
    """Move the inbox into every rollup in one statement; returns the inbox rows folded,
    or None when another fold holds the lock."""
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
    # Late rows (for hours readers may have cached as closed) make a new version of them (the
    # row comes back if a flush removed it).
    epoch = UsageRollupEpoch._meta.db_table
    ctes.append(f"late AS (INSERT INTO {epoch} (id, closed_hours_version) "
                f"SELECT 1, gen_random_uuid() WHERE EXISTS (SELECT 1 FROM taken WHERE hour < %s) "
                f"ON CONFLICT (id) DO UPDATE SET closed_hours_version = "
                f"excluded.closed_hours_version)")
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_xact_lock(%s)", [FOLD_LOCK])
        if not cursor.fetchone()[0]:
            return None
        cursor.execute(f"WITH {', '.join(ctes)} SELECT count(*) FROM taken", [late_horizon()])
        return cursor.fetchone()[0]


def rollup_add(rows):
    """Add saved rows to every rollup, beside each other, after any rebuild."""
    if not rows:
        return
    with transaction.atomic():
        with connection.cursor() as cursor:  # wait out a rebuild; run beside each other
            cursor.execute("SELECT pg_advisory_xact_lock_shared(%s)", [FOLD_LOCK])
        add_rows(rows)


def rollup_rebuild(start=None, end=None):
    """Recompute every rollup for whole hours in [start, end]: no fold runs meanwhile,
    and (called outside a transaction) one snapshot is read, taken once the lock is held,
    so the raw rows summed and the inbox rows dropped agree."""
    if not connection.in_atomic_block:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_lock(%s)", [FOLD_LOCK])
        try:
            return _rollup_rebuild(start, end, snapshot=True)
        finally:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_unlock(%s)", [FOLD_LOCK])
    return _rollup_rebuild(start, end, snapshot=False)


def _rollup_rebuild(start, end, snapshot):
    """The widest rollup summed from the raw rows, the narrower ones from it: one pass
    over the raw rows instead of one per rollup."""
    rows, bounds = rebuild_scope(start, end)
    widest, narrower = USAGE_ROLLUPS[-1], USAGE_ROLLUPS[:-1]
    with transaction.atomic():
        with connection.cursor() as cursor:
            if snapshot:  # the session lock is held already
                cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
            else:
                cursor.execute("SELECT pg_advisory_xact_lock(%s)", [FOLD_LOCK])
        rebuild_clear(bounds)
        source, params = rows.values("occurred_at", *RAW_COLUMNS).query.sql_with_params()
        with connection.cursor() as cursor:
            # In hour order: a range of hours is then a few neighbouring pages.
            cursor.execute(upsert_sql(widest, source, hour_order=True), params)
        for rollup in narrower:
            sql, params = narrower_sums(rollup, bounds).query.sql_with_params()
            columns = _quoted(["hour", *rollup.DIMENSIONS, *SUM_SOURCES])
            with connection.cursor() as cursor:
                cursor.execute(f"INSERT INTO {rollup._meta.db_table} ({columns}) {sql}", params)
        with connection.cursor() as cursor:
            for rollup in USAGE_ROLLUPS:  # the owner's function: ANALYZE needs the owner
                cursor.execute("SELECT logcenter_analyze(%s)", [rollup._meta.db_table])
