"""Bulk loads on PostgreSQL (Engine.bulk_load): COPY, from several processes at once.

Into the partitioned usage table, rows go into index-free tables, one per month
(`partitions.bulk_load_tables`), with ids reserved from the table's sequence; `finish()`
gives each month its indexes, built once, and swaps it in (`partitions.bulk_load_swap`):
several times faster than keeping every index up to date row by row. Into any other table,
one COPY per chunk and ANALYZE at the end. Partition changes and ANALYZE are the owner's:
the caller runs as the owner (`db_roles.as_owner`).
"""

import bisect

from django.db import connection

from logcenter.engines.base import BulkLoad
from logcenter.engines.postgres import partitions
from logcenter.models import UsageRecord


class CopyBulkLoad(BulkLoad):
    def __init__(self, kind, fields, start, end, count):
        model = kind.model
        quote = connection.ops.quote_name
        self.table = model._meta.db_table
        self.time_at = list(fields).index("occurred_at")
        columns = [model._meta.get_field(name).column for name in fields]
        self.tables = (partitions.bulk_load_tables(start, end)
                       if model is UsageRecord and partitions.is_partitioned() else {})
        self.months = sorted(self.tables)
        self.first_id = None
        if self.tables:  # each row carries its id: reserved now, in time order
            self.first_id = partitions.reserve_ids(count)
            columns = [model._meta.pk.column, *columns]
        self.statements = [
            f"COPY {quote(table)} ({', '.join(quote(c) for c in columns)}) FROM STDIN"
            for table in ([self.tables[m] for m in self.months] or [self.table])]
        self.finishing = (f"building the indexes of {len(self.tables)} monthly partitions"
                          if self.tables else f"analyzing {self.table}")

    def write(self, first, rows):
        with connection.cursor() as cursor:
            if not self.months:  # a plain table: one COPY, ids from its sequence
                _copy(cursor, self.statements[0], rows)
                return
            # Rows come in time order: one COPY per month the chunk touches.
            by_month = {}
            for number, row in enumerate(rows, start=self.first_id + first):
                index = bisect.bisect_right(self.months, row[self.time_at]) - 1
                by_month.setdefault(max(index, 0), []).append((number, *row))
            for index, month_rows in by_month.items():
                _copy(cursor, self.statements[index], month_rows)

    def finish(self):
        if self.tables:
            partitions.bulk_load_swap(self.tables)
            return
        with connection.cursor() as cursor:  # fresh statistics, or the planner guesses
            cursor.execute(f"ANALYZE {connection.ops.quote_name(self.table)}")


def _copy(cursor, statement, rows):
    with cursor.connection.cursor() as raw, raw.copy(statement) as copy:
        for row in rows:
            copy.write_row(row)


def vacuum_analyze(models):
    """What autovacuum would do next, done now: planner statistics, and the visibility map
    that lets index-only scans skip the table."""
    quote = connection.ops.quote_name
    with connection.cursor() as cursor:
        cursor.execute("VACUUM (ANALYZE) " + ", ".join(quote(m._meta.db_table) for m in models))
