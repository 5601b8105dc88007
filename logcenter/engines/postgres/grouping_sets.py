"""Several stats pieces that read the same rows, summed in one pass: GROUP BY GROUPING SETS.

The usage panels sum the same rows (a window's raw partial first hour, the rollup inbox) by
user, API key, model, organization and status: six reads of one set of rows, where one read
grouped six ways gives the same sums."""

from django.db import connection

from logcenter.analytics import stats


def grouped_together(entries):
    """[stats._grouped(*piece, query) for piece, query in entries]: pieces of one statement
    (the same rows and sums), each grouped by one field of its own or by none (the whole's
    sums: the figures' totals), summed in one pass (one piece: one grouping)."""
    first, _ = entries[0]
    keys = [tuple(piece.fields) for piece, _ in entries]
    # One piece alone is summed here too: a plain GROUP BY, its rows read as tuples.
    if (not any(keys) or any(len(key) > 1 for key in keys)
            or len(set(keys)) < len(keys)
            or any(piece.columns != first.columns for piece, _ in entries)):
        return [stats._grouped(*piece, query) for piece, query in entries]
    model, quote = first.queryset.model, connection.ops.quote_name
    names = [key[0] for key in keys if key]
    summed = sorted({c for c in first.columns.values() if c is not None})

    def column(name):
        return "lc_rows." + quote(model._meta.get_field(name).column)

    inner = first.queryset.order_by().values(*dict.fromkeys([*names, *summed]))
    sql, params = inner.query.sql_with_params()
    grouped = ", ".join(column(n) for n in names)
    sums = ", ".join("COUNT(*)" if c is None else f"SUM({column(c)})" + (
        "::bigint" if stats.whole_numbers(model, c) else "")  # as ints, as stats.sum_of
        for c in first.columns.values())
    sets = ", ".join(f"({column(key[0])})" if key else "()" for key in keys)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {grouped}, GROUPING({grouped}), {sums} FROM ({sql}) lc_rows "
                       f"GROUP BY GROUPING SETS ({sets})", params)
        rows = cursor.fetchall()
    # GROUPING() has a bit per field, the first field's the highest, set where the row
    # sums over that field: the rows of field i have every bit set but i's; the whole's
    # row (the empty set, one row even over no rows) has every bit set.
    width = len(names)
    every = (1 << width) - 1
    entry_of = {}  # GROUPING mask: (entry, the position of its field or None)
    for i, key in enumerate(keys):
        at = names.index(key[0]) if key else None
        entry_of[every if at is None else every ^ (1 << (width - 1 - at))] = (i, at)
    results = [[] for _ in entries]
    measures = list(first.columns)
    for row in rows:
        i, at = entry_of[row[width]]
        if at is None:  # the whole's sums: null over no rows
            results[i].append((None, (), {m: value or 0
                                          for m, value in zip(measures, row[width + 1:])}))
        else:  # a group's sums: never null (a group has rows, its summed columns values)
            results[i].append((None, (row[at],), dict(zip(measures, row[width + 1:]))))
    return results
