"""The PostgreSQL fast path of exports: the database formats every cell and streams the
file with COPY … TO STDOUT, so a million rows cost seconds and flat memory.

Cells are masked for the role here, as the Python writer in logcenter.exports.jobs masks them.
For CSV, formula neutralising and control-character escaping are left to that writer,
which treats the rare rows that need them (ExportWriter.write_copied): a test per row in
the database cost more than all the formatting.
"""

from django.db import connection, models, transaction
from django.db.models.expressions import RawSQL

from logcenter.core.access import MASK


def _literal(text):
    return "'" + text.replace("'", "''") + "'"


def _text_sql(field, col):
    if isinstance(field, models.DateTimeField):
        return f"""to_char({col} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')"""
    if isinstance(field, models.BooleanField):
        return f"(CASE WHEN {col} THEN 'true' WHEN NOT {col} THEN 'false' END)"
    if isinstance(field, models.GenericIPAddressField):
        return f"host({col})"
    return f"{col}::text"


def _masked(field, col, expr, mask=_literal(MASK)):
    empty = f"{col} IS NULL"
    if isinstance(field, models.JSONField):
        empty += f" OR {col} IN ('{{}}'::jsonb, '[]'::jsonb)"
    elif not isinstance(field, (models.DateTimeField, models.BooleanField,
                                models.GenericIPAddressField, models.IntegerField,
                                models.DecimalField, models.UUIDField)):
        empty += f" OR {col}::text = ''"
    return f"(CASE WHEN {empty} THEN {expr} ELSE {mask} END)"


def _json_value_sql(field, col):
    if isinstance(field, (models.JSONField, models.BooleanField, models.IntegerField)):
        return col  # native JSON values
    return _text_sql(field, col)


def copy_sql(queryset, columns, access, fmt):
    """(sql, params) of a COPY … TO STDOUT producing the file's rows (no header)."""
    table = queryset.model._meta.db_table
    if fmt == "csv":
        # Inner query: the list's rows in the list's order; the outer one only formats
        # cells (no join, no sort), so PostgreSQL keeps the inner order.
        inner, params = (queryset.values_list(*[f.name for f in columns])
                         .query.sql_with_params())
        cells = []
        for field in columns:
            col = f'lc_rows."{field.column}"'
            expr = _text_sql(field, col)
            if field.name in access.masked_fields:
                expr = _masked(field, col, expr)
            cells.append(expr)
        return (f"COPY (SELECT {', '.join(cells)} FROM ({inner}) lc_rows) "
                f"TO STDOUT WITH (FORMAT csv)"), params
    cells = []
    for field in columns:
        col = f'"{table}"."{field.column}"'
        expr = _json_value_sql(field, col)
        if field.name in access.masked_fields:
            expr = _masked(field, col, f"to_jsonb({expr})",
                           mask=f"to_jsonb({_literal(MASK)}::text)")
        cells.append((f"lc_{field.name}", expr))
    pairs = ", ".join(f"{_literal(f.name)}, {expr}" for f, (_, expr) in zip(columns, cells))
    queryset = queryset.annotate(lc_json=RawSQL(f"json_build_object({pairs})::text", ()))
    inner, params = queryset.values_list("lc_json").query.sql_with_params()
    # CSV format with a delimiter and quote that JSON text never holds raw: lines as is.
    return (f"COPY ({inner}) TO STDOUT WITH (FORMAT csv, DELIMITER E'\\x1f', "
            f"QUOTE E'\\x1e')"), params


def copy_rows(queryset, columns, access, fmt, on_chunk):
    """Stream the rows' bytes to on_chunk(bytes), chunk by chunk."""
    sql, params = copy_sql(queryset, columns, access, fmt)
    with transaction.atomic(), connection.cursor() as cursor:
        # Stream in index order rather than sort a large result on disk first, and skip
        # JIT compilation of the long cell expressions (seconds, for nothing in a stream).
        cursor.execute("SET LOCAL enable_sort = off")
        cursor.execute("SET LOCAL jit = off")
        with cursor.cursor.copy(sql, params) as copy:
            for data in copy:
                on_chunk(bytes(data))
