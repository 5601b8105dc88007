"""Filters as people combine them: a seeded random draw of two and three filters of a tab,
with values taken from the data, under every offered sort, on page 1 and deep.

    .venv/bin/python bench/query.py combinations [--draws 12] [--runs 5] [--seed 1]
        [--kinds usage …] [--windows 30d 90d] [--deep 10000] [--max-id N]

Each draw picks 2 or 3 of the tab's page filters (time and search aside) and takes their
values from one row of the window (two times in three: the filters then match together) or
from different rows (one time in three: they may match nothing, the hardest case for a walk
in sort order). Each draw is timed under every sort the tab offers (descending, as a click
on the column gives), on page 1 and `--deep` rows deep (the cursor the links would carry),
over each window, through Django's test client as HTML and as API. Prints one JSON line per
case, then the worst cases with the statements the page ran that took longest (their
milliseconds and the scans PostgreSQL planned for them, API face), then a summary
against the target (p95 ≤ 100 ms for combined filters).
"""

import dataclasses
import random

from _common import percentile, report, signed_in_client, summary, timed_gets

TARGET_MS = 100
SKIPPED_FILTERS = {"q", "ip", "metadata", "start_time", "end_time", "range", "show_views",
                   "cost_min", "cost_max", "level_min"}
# Filters whose value is not a column of the row as such.
SOURCES = {"user": "username", "api_key": "api_key_name", "actor": "actor_name"}


def _source(kind, name):
    if kind.slug == "auth" and name == "user":
        return "username_attempted"
    return SOURCES.get(name) or kind.filterset.base_filters[name].field_name


def _value(row, source):
    value = getattr(row, source, None)
    if value in (None, ""):
        return None
    return str(value).lower() if isinstance(value, bool) else str(value)


def draw_cases(kind, rows, draws, rng):
    """[(name, params)]: `draws` combinations of the kind's page filters."""
    names = [n for n in kind.page_filters
             if n in kind.filterset.base_filters and n not in SKIPPED_FILTERS]
    cases, attempts = [], 0
    while len(cases) < draws and attempts < draws * 20:
        attempts += 1
        chosen = rng.sample(names, rng.choice((2, 3)))
        together = rng.random() < 2 / 3
        params = {}
        for name in chosen:
            row = rows[0] if together else rng.choice(rows)
            value = _value(row, _source(kind, name))
            if value is None:
                break
            params[name] = value
        else:
            label = " + ".join(f"{k}={v[:24]}" for k, v in params.items())
            cases.append((f"{label} ({'together' if together else 'apart'})", params))
            rows = rows[1:] + rows[:1]
    return cases


def run(args):

    from logcenter.core import selectors
    from logcenter.core.query import LogQuery
    from logcenter.core.registry import registry

    user, client = signed_in_client()
    rng = random.Random(args.seed)
    results = []
    for slug in args.kinds:
        kind = registry[slug]
        table = kind.model._meta.db_table
        newest = kind.model.objects.order_by("-occurred_at").values_list("id", flat=True).first()
        if newest is None:
            continue
        if args.max_id:  # the same draw after later runs have stored newer rows
            newest = min(newest, args.max_id)
        # Rows spread over the last 30 days, by id (no sort of the table).
        rows = list(kind.model.objects.filter(
            id__in=[rng.randint(max(1, newest - 3_000_000), newest) for _ in range(200)]))
        rng.shuffle(rows)
        cases = draw_cases(kind, rows, args.draws, rng)
        report(case="draws", kind=slug, cases=[name for name, _ in cases])
        for window in args.windows:
            for name, filters in cases:
                for sort in kind.sorts:
                    params = {**filters, "range": window, "ordering": f"-{sort}",
                              "page_size": "50"}
                    query = LogQuery.parse(kind, user, params)
                    ordered = query.queryset.order_by(f"-{sort}", "-id")
                    pages = [("page 1", None)]
                    boundary = ordered.values_list(sort, "id")[args.deep:args.deep + 1]
                    if boundary:
                        first = selectors.log_list(kind, user, params)
                        first.total  # noqa: B018 (its cursors carry the total)
                        value, pk = boundary[0]
                        pages.append((f"{args.deep} deep", dataclasses.replace(
                            first.page.next_cursor, value=value, pk=pk).encode()))
                    for page_name, cursor in pages:
                        asked = dict(params, **({"cursor": cursor} if cursor else {}))
                        faces = {}
                        for face, url in (("html", f"/logs/{slug}/"),
                                          ("api", f"/api/v1/{kind.api_name}/")):
                            timings = timed_gets(client, url, asked, args.runs)
                            faces[face] = summary(timings) | {"all": timings}
                        figures = dict(kind=slug, draw=name, sort=sort, window=window,
                                       page=page_name,
                                       html=_short(faces["html"]), api=_short(faces["api"]))
                        report(**figures)
                        results.append((figures, faces, slug, asked, table))
    if not results:
        report(case="summary", cases=0)
        return
    every = [t for _, faces, *_ in results for face in faces.values() for t in face["all"]]
    worst = sorted(results, key=lambda r: -max(r[0]["html"]["p95_ms"], r[0]["api"]["p95_ms"]))
    for figures, _, slug, asked, table in worst[:args.worst]:
        report(case="worst", **figures,
               statements=_slowest_statements(client, f"/api/v1/{registry[slug].api_name}/",
                                              asked, table))
    over = [r[0] for r in results
            if max(r[0]["html"]["p95_ms"], r[0]["api"]["p95_ms"]) > TARGET_MS]
    report(case="summary", cases=len(results), requests=len(every),
           p50_ms=percentile(every, 50), p95_ms=percentile(every, 95),
           p99_ms=percentile(every, 99), worst_case_p95_ms=max(
               max(r[0]["html"]["p95_ms"], r[0]["api"]["p95_ms"]) for r in results),
           target_ms=TARGET_MS, cases_over_target=len(over),
           met=not over)


def _slowest_statements(client, url, asked, table, most=3):
    """The plans the page really ran: its slowest statements on `table` (as the engine
    chose them: walk probes, the anchor's ranking, the rows, the count), each with its
    milliseconds and the scans of its plan."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from query import plan_nodes

    with CaptureQueriesContext(connection) as queries:
        client.get(url, asked)
    ran = [q for q in queries.captured_queries
           if table in q["sql"] and not q["sql"].startswith("EXPLAIN")]
    slowest = sorted(ran, key=lambda q: -float(q["time"]))[:most]
    return [{"ms": round(float(q["time"]) * 1000, 1), "sql": q["sql"][:160] + "…",
             "plan": sorted({f"{n} ({r})" for n, r in plan_nodes(q["sql"], None, table)})}
            for q in slowest]


def _short(figures):
    return {"p50_ms": round(figures["p50_ms"], 1), "p95_ms": round(figures["p95_ms"], 1)}


def add_arguments(parser):
    parser.add_argument("--draws", type=int, default=12)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--max-id", type=int, default=0,
                        help="draw from rows up to this id (0: the newest): the same draw "
                             "on a database that load runs have grown since")
    parser.add_argument("--kinds", nargs="+", default=["usage", "audit", "auth", "system"])
    parser.add_argument("--windows", nargs="+", default=["30d", "90d"])
    parser.add_argument("--deep", type=int, default=10_000)
    parser.add_argument("--worst", type=int, default=10)
