"""Ingestion on PostgreSQL: COPY into a temporary staging table, then one
INSERT … ON CONFLICT DO NOTHING per kind; for usage, in the same statement, the ledger
takes the new ids and the rollup inbox the new rows' sums."""

from django.db import connection, models

from logcenter.engines.postgres.rollups import ingest_with_rollups_sql
from logcenter.models import UsageLedger, UsageRecord


def store_copy(kind, rows):
    """Insert rows whose event_id is new; returns how many were inserted."""
    from psycopg.types.json import Jsonb

    model = kind.model
    table = model._meta.db_table
    stage = f"lc_stage_{kind.slug}"
    fields = [f for f in model._meta.concrete_fields if f.name != "id"]
    columns = [f.column for f in fields]
    json_columns = {f.column for f in fields if isinstance(f, models.JSONField)}
    column_list = ", ".join(f'"{c}"' for c in columns)
    with connection.cursor() as cursor:
        # A session-local staging table of the same columns (no constraints, no
        # indexes), emptied at commit and reused by the connection's later batches.
        cursor.execute(
            f'CREATE TEMP TABLE IF NOT EXISTS "{stage}" ON COMMIT DELETE ROWS AS '
            f'SELECT {column_list} FROM "{table}" WITH NO DATA'
        )
        raw = cursor.cursor
        with raw.copy(f'COPY "{stage}" ({column_list}) FROM STDIN') as copy:
            for row in rows:
                copy.write_row([
                    Jsonb(row[f.name]) if f.column in json_columns else row[f.name]
                    for f in fields
                ])
        # Any unique violation is a duplicate: event_id (per occurred_at on the
        # partitioned usage table, where unique indexes must hold the partition key).
        insert = (f'INSERT INTO "{table}" ({column_list}) SELECT {column_list} FROM "{stage}" '
                  f"ON CONFLICT DO NOTHING")
        if model is UsageRecord:
            # One statement: the ledger takes the ids it has not seen (whatever their time;
            # in id order, so concurrent batches lock them in one order), only those rows are
            # inserted, and the rollup inbox takes the new rows' sums.
            ledger = UsageLedger._meta.db_table
            seen = (f'seen AS (INSERT INTO "{ledger}" (event_id, occurred_at) '
                    f'SELECT event_id, occurred_at FROM "{stage}" ORDER BY event_id '
                    f"ON CONFLICT DO NOTHING RETURNING event_id)")
            insert = (f'INSERT INTO "{table}" ({column_list}) SELECT {column_list} '
                      f'FROM "{stage}" WHERE event_id IN (SELECT event_id FROM seen) '
                      f"ON CONFLICT DO NOTHING")
            cursor.execute(ingest_with_rollups_sql(insert, before=[seen]))
            inserted = cursor.fetchone()[0]
        else:
            cursor.execute(insert)
            inserted = cursor.rowcount
        cursor.execute(f'DELETE FROM "{stage}"')  # several kinds' batches share a transaction
    return inserted
