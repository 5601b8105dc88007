"""Stats buckets on PostgreSQL: the database adds the pieces up, ranks and formats each
bucket's groups as JSON (analytics.stats._present and _ranked, in SQL), so thousands of
groups cost one round trip and no Python per group."""

import gc
import json
from contextlib import contextmanager

from django.db import connection, transaction
from django.db.models import F, Value

from logcenter.analytics.stats import _CENTS, _utc


def buckets_sql(query, pieces, tz):
    """{bucket start (UTC): presented results}: PostgreSQL adds the pieces up, ranks and
    formats each bucket's groups as JSON, as _present and _ranked do, so thousands of
    groups cost one round trip and no Python per group."""
    parts, params = [], []
    for queryset, fields, columns in pieces:
        # Plain rows, summed once below (not per piece and again).
        values = {f"lc_{m}": Value(1) if column is None else F(column)
                  for m, column in columns.items()}
        sql, piece_params = (queryset.order_by().values(*fields, **values)
                             .query.sql_with_params())
        parts.append(f"({sql})")
        params.extend(piece_params)
    dims = [f"d{i}" for i in range(len(query.group_fields))]
    measures = [f"m_{m}" for m in query.measures]
    order = "m_cost" if "cost" in query.measures else "m_requests"
    # Each group's object is written as text by format(): half the time json_build_object
    # takes for thousands of groups. Names are ours (measures, group names); values are
    # numbers, fixed-point text, or JSON-encoded dimension strings.
    members, values = [], []
    for m in query.measures:
        if m in _CENTS:
            places = -_CENTS[m].as_tuple().exponent
            members.append(f'"{m}":"%s"')
            values.append(f"round(m_{m}, {places})")
        elif m != "latency_ms_sum":
            members.append(f'"{m}":%s')
            values.append(f"m_{m}::bigint")
    members.append('"avg_latency_ms":%s')
    values.append("CASE WHEN m_requests > 0 THEN "
                  "floor((2 * m_latency_ms_sum + m_requests) / (2 * m_requests))::bigint "
                  "ELSE 0 END")
    for name, d in zip(query.group_names, dims):
        members.append(f'"{name}":%s')
        values.append(f"coalesce(to_json({d})::text, 'null')")
    # %% : the statement goes through the driver's own %s parameters.
    template = ("{" + ",".join(members) + "}").replace("%s", "%%s")
    ranking = ", ".join([f"{order} DESC", *(f'{d} COLLATE "C"' for d in dims)])
    grouping = ", ".join(["b", *dims])
    sums = ", ".join(f"sum(m_{m}) AS m_{m}" if m in _CENTS
                     # bigint sums as bigint: see migration 0014
                     else f"logcenter_sum_int8(m_{m}::bigint) AS m_{m}"
                     for m in query.measures)
    grouped = (f"SELECT {grouping}, {sums} FROM ({' UNION ALL '.join(parts)}) AS pieces (b, "
               + ", ".join([*dims, *measures]) + f") GROUP BY {grouping}")
    row = f"format('{template}', {', '.join(values)})"
    if query.limit_groups is not None and dims:
        # Each bucket's first limit_groups groups as they are, the rest summed into one
        # row (rank limit + 1) with null names and the count of the groups it holds.
        limit = int(query.limit_groups)
        kept = ", ".join(f"CASE WHEN min(rk) <= {limit} THEN min({d}) END AS {d}" for d in dims)
        resum = ", ".join(f"sum(m_{m}) AS m_{m}" for m in query.measures)
        grouped = (f"SELECT b, {kept}, {resum}, count(*) AS groups, min(rk) AS rk FROM ("
                   f"SELECT *, row_number() OVER (PARTITION BY b ORDER BY {ranking}) AS rk "
                   f"FROM ({grouped}) AS all_groups) AS ranked "
                   f"GROUP BY b, least(rk, {limit + 1})")
        row = (f"CASE WHEN rk <= {limit} THEN {row} ELSE "
               f"left({row}, -1) || ',\"other_groups\":' || groups || '}}' END")
        ranking = "rk"
    sql = (f"SELECT b, '[' || string_agg({row}, ',' ORDER BY {ranking}) || ']' "
           f"FROM ({grouped}) AS grouped GROUP BY b")
    # Inside the caller's transaction (a panel's one snapshot) no savepoint of its own: the
    # setting then lasts to that transaction's end, which its other reads don't mind, and
    # the savepoint's two round trips a chart go.
    with transaction.atomic(savepoint=False), connection.cursor() as cursor:
        cursor.execute("SET LOCAL work_mem = '64MB'")  # hash the groups in memory
        cursor.execute(sql, params)
        rows = cursor.fetchall()
    with _cyclic_gc_paused():
        return {_utc(when, tz): json.loads(results) for when, results in rows}


@contextmanager
def _cyclic_gc_paused():
    """Decoding thousands of groups allocates ~100,000 objects: enough to set off the cyclic
    garbage collector several times, once in a while a full pass over every object of the
    process (decoding 9,000 groups: 10 ms, or 25-80 ms with those passes). Decoded JSON
    holds no reference cycles, so nothing is lost by pausing it meanwhile. Only the caller
    that paused it turns it back on (another thread may be decoding too)."""
    paused = gc.isenabled()
    if paused:
        gc.disable()
    try:
        yield
    finally:
        if paused:
            gc.enable()


