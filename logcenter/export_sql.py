"""The PostgreSQL fast path of exports: the database formats every cell and streams the
file with COPY … TO STDOUT, so a million rows cost seconds and flat memory.

Each cell goes through the same steps as the Python writer in logcenter.exports: mask
(role), then for CSV neutralise formulas and escape control characters. The test suite
runs on PostgreSQL, so this path is the tested one; the Python writer serves SQLite.
"""

from django.db import connection, models
from django.db.models.expressions import RawSQL

from .access import MASK
from .text import CONTROL_RE

FORMULA_CHARS = ("=", "+", "-", "@", "\t", "\r")
_NAMED = {"\r": "\\r", "\n": "\\n", "\t": "\\t"}


def _literal(text):
    return "'" + text.replace("'", "''") + "'"


def _control_codes():
    codes = list(range(1, 32)) + list(range(0x7F, 0xA0)) + [0x2028, 0x2029]
    codes += list(range(0x202A, 0x202F)) + list(range(0x2066, 0x206A))
    return [c for c in codes if CONTROL_RE.match(chr(c))]


def _control_pattern():
    pattern = CONTROL_RE.pattern.replace("\x00-", "\x01-")  # PostgreSQL text has no NUL
    return "".join(c if c.isprintable() and ord(c) < 0x7F else
                   (f"\\x{ord(c):02x}" if ord(c) < 0x100 else f"\\u{ord(c):04x}")
                   for c in pattern)


def _escape_sql(expr, row_has_controls):
    """escape_controls() in SQL. The replace chain runs only on rows that hold a control
    character anywhere (one regex test per row, not per cell)."""
    chain = expr
    for code in _control_codes():
        char = chr(code)
        shown = _NAMED.get(char) or (f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}")
        chain = f"replace({chain}, chr({code}), {_literal(shown)})"
    return f"(CASE WHEN {row_has_controls} THEN {chain} ELSE {expr} END)"


def _formula_sql(expr):
    prefixes = ", ".join(f"chr({ord(c)})" for c in FORMULA_CHARS)
    return f"(CASE WHEN left({expr}, 1) IN ({prefixes}) THEN '''' || {expr} ELSE {expr} END)"


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


TEXTUAL = (models.CharField, models.TextField, models.JSONField)


def needs_neutralising(field, access):
    """Free text needs formula and control-character treatment; a choice field holds one
    of its validated values (unless masked, when it holds the mask)."""
    return isinstance(field, TEXTUAL) and not (field.choices and field.name not in
                                               access.masked_fields)


def copy_sql(queryset, columns, access, fmt):
    """(sql, params) of a COPY … TO STDOUT producing the file's rows (no header)."""
    table = queryset.model._meta.db_table
    if fmt == "csv":
        # Inner query: the list's rows in the list's order, plus one flag per row telling
        # whether any text cell holds a control character. The outer query only formats
        # cells (no join, no sort), so PostgreSQL keeps the inner order.
        textual = [f'"{table}"."{f.column}"' for f in columns if needs_neutralising(f, access)]
        flag = f"concat({', '.join(textual)}) ~ {_literal(_control_pattern())}"
        inner, params = (queryset.annotate(lc_controls=RawSQL(flag, ()))
                         .values_list(*[f.name for f in columns], "lc_controls")
                         .query.sql_with_params())
        cells = []
        for field in columns:
            col = f'lc_rows."{field.column}"'
            expr = _text_sql(field, col)
            if field.name in access.masked_fields:
                expr = _masked(field, col, expr)
            if needs_neutralising(field, access):
                expr = _escape_sql(_formula_sql(expr), "lc_rows.lc_controls")
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
    with connection.cursor() as cursor:
        with cursor.cursor.copy(sql, params) as copy:
            for data in copy:
                on_chunk(bytes(data))
