"""List pages and API calls on the big tables: keyset pages versus a naive Django list.

    .venv/bin/python bench/query.py [--runs 20] [--deep 10000] [--kinds usage audit …]
                                    [--ranges default 30d]
    .venv/bin/python bench/query.py combinations …   (bench/combinations.py: filters combined)
    .venv/bin/python bench/query.py load …           (bench/load.py: readers and ingestion at once)
    .venv/bin/python bench/query.py panels …         (bench/panels.py: figures and charts)
    .venv/bin/python bench/query.py search …         (bench/search.py: what people paste in q)
    .venv/bin/python bench/query.py purge …          (bench/purge.py: an organization's purge)

For every tab, each offered sort and each page filter (alone, with the time range: the
tab's default window and 30 days; for usage also the API key filter with each sort; for
every tab the busiest organization's filter with each sort, and that organization's admin's
own list, as the customer sees it), page 1 and a page `--deep` rows deep are timed through
Django's test client, as HTML and as API, then the data work alone (selector page, capped
count, estimate; a deep page's cursor carries the first page's total, as its links do), and
the same query through a naive Django list (the same FilterSet, then Paginator: OFFSET and
COUNT; data work only) for the ratios. Each case prints one JSON line: p50/p95 ms for
both faces, the data work and the naive list, the ratios, the scan nodes PostgreSQL chose for the log table
(Index Scan, Bitmap Heap Scan, Seq Scan …; empty partitions left out) and whether any of
them reads a whole populated table. The last line summarises the cases.
Uses DATABASE_URL, default postgres://postgres@127.0.0.1:5432/logcenter_bench; load it
with `manage.py seed_demo --usage 10000000`.
"""

import argparse
import dataclasses
import json
import time

from _common import report, setup_django, signed_in_client, summary, timed_gets

# Usage filters that need a value of their own (the rest take the newest row's).
USAGE_VALUES = {"status": "error", "is_stream": "true", "cost_min": "0.01", "cost_max": "0.0001"}
NOT_TIMED = {"q", "ip", "metadata", "start_time", "end_time", "range"}


def plan_nodes(sql, params, table):
    """[(node, relation or index)] of the scans on `table` and its partitions that hold
    rows (the empty future partitions are planned but never read)."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN (FORMAT JSON) " + sql, params)
        plan = cursor.fetchone()[0]
        cursor.execute("SELECT c.relname FROM pg_class c WHERE c.relname LIKE %s "
                       "AND c.relkind = 'r' AND c.reltuples > 0", [table + "%"])
        populated = {row[0] for row in cursor.fetchall()}
    if isinstance(plan, str):
        plan = json.loads(plan)
    found = []

    def walk(node):
        if node.get("Relation Name") in populated:
            found.append((node["Node Type"], node.get("Index Name") or node["Relation Name"]))
        for child in node.get("Plans", []):
            walk(child)

    walk(plan[0]["Plan"])
    return found


# Filters that take a set value rather than the newest row's.
SET_VALUES = {"usage": USAGE_VALUES, "audit": {"show_views": "true"}}


def filter_value(kind, name, sample):
    if name in SET_VALUES.get(kind.slug, {}):
        return SET_VALUES[kind.slug][name]
    field = kind.filterset.base_filters[name]
    source = {"user": "username", "api_key": "api_key_name", "actor": "actor_name"}.get(
        name, field.field_name)
    if kind.slug == "auth" and name == "user":
        source = "username_attempted"
    value = getattr(sample, source, None)
    if value in (None, ""):  # the newest row leaves it blank (a success has no failure reason)
        value = (kind.model.objects.exclude(**{source: ""}).exclude(**{source: None})
                 .order_by("-occurred_at").values_list(source, flat=True).first())
    return None if value in (None, "") else str(value).lower() if isinstance(value, bool) \
        else str(value)


def main():
    import sys

    modes = {"combinations": "combinations", "load": "load", "panels": "panels",
             "search": "search", "purge": "purge", "faces": "faces"}
    if len(sys.argv) > 1 and sys.argv[1] in modes:
        import importlib

        module = importlib.import_module(modes[sys.argv[1]])
        parser = argparse.ArgumentParser(description=module.__doc__.splitlines()[0])
        module.add_arguments(parser)
        args = parser.parse_args(sys.argv[2:])
        setup_django(migrate=getattr(module, "MIGRATE", True))
        from logcenter.engines.postgres.planner_stats import refresh_stale_tables

        report(case="vacuumed and analyzed", tables=refresh_stale_tables())
        module.run(args)
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--deep", type=int, default=10_000)
    parser.add_argument("--kinds", nargs="+", default=["usage", "audit", "auth", "system"])
    parser.add_argument("--ranges", nargs="+", default=["default", "30d"])
    parser.add_argument("--match", default="", help="only cases whose name contains this")
    args = parser.parse_args()
    setup_django()
    from logcenter.engines.postgres.planner_stats import refresh_stale_tables

    # As the beat job (planner-stats) keeps them: rows added since the load, by the
    # ingestion bench say, are in the planner's statistics.
    report(case="vacuumed and analyzed", tables=refresh_stale_tables())
    from django.core.paginator import Paginator

    from logcenter.core import selectors
    from logcenter.core.query import LogQuery
    from logcenter.core.pagination import keyset_queryset
    from logcenter.core.registry import registry

    user, client = signed_in_client()
    organization = busiest_organization()
    viewers = [("", user, client)]
    if organization is not None:
        viewers.append(("org admin ", *organization_admin_client(organization)))
    figures_all = []
    for slug in args.kinds:
        kind = registry[slug]
        table = kind.model._meta.db_table
        sample = kind.model.objects.order_by("-occurred_at").first()
        report(case="setup", kind=slug, rows=kind.model.objects.count())
        cases = [(f"sort {s}", {"ordering": f"-{s}"}) for s in kind.sorts]
        for name in kind.page_filters:
            if name in NOT_TIMED or name not in kind.filterset.base_filters:
                continue
            value = filter_value(kind, name, sample)
            if value is not None:
                cases.append((f"filter {name}", {name: value}))
        if slug == "usage":
            cases.append(("filter request_id", {"request_id": sample.request_id}))
            # Finance's question: one API key's costliest (biggest, slowest) calls.
            key = filter_value(kind, "api_key", sample)
            cases += [(f"filter api_key, sort {s}", {"api_key": key, "ordering": f"-{s}"})
                      for s in kind.sorts if s != "occurred_at"]
        if organization is not None:
            # Staff looking into one customer: its rows in each order.
            cases += [("filter organization_id" + (f", sort {s}" if s != "occurred_at" else ""),
                       {"organization_id": organization, "ordering": f"-{s}"})
                      for s in kind.sorts]
        cases = [(name, params) for name, params in cases if args.match in name]
        # The organization's admin: every row of their organization (its scope), newest
        # first, as their list opens.
        admin_cases = [("list", {})] if args.match in "org admin list" else []
        for window, (viewer, user, client), (name, params) in (
                (w, v, c) for w in args.ranges for v in viewers
                for c in (cases if not v[0] else admin_cases)):
            name = viewer + name
            params = {**params, "page_size": "50",
                      **({} if window == "default" else {"range": window})}
            filterset = LogQuery.parse(kind, user, params).filterset
            ordering = filterset.ordering_value
            key = ordering.lstrip("-")
            sign = "-" if ordering.startswith("-") else ""
            ordered = filterset.qs.order_by(f"{sign}{key}", f"{sign}id")
            boundary = ordered.values_list(key, "id")[args.deep:args.deep + 1]
            pages = [("page 1", None)]
            if boundary:
                value, pk = boundary[0]
                # As the links from the first page make it, carrying that page's total
                # (and the digest of the filters it was counted for).
                first = selectors.log_list(kind, user, params)
                first.total  # noqa: B018 (lets the page's cursors carry it)
                pages.append((f"{args.deep} deep", dataclasses.replace(
                    first.page.next_cursor, value=value, pk=pk).encode()))
            for page_name, cursor in pages:
                query = dict(params, **({"cursor": cursor} if cursor else {}))
                listing = selectors.log_list(kind, user, query)
                page_qs = keyset_queryset(listing.queryset, ordering,
                                          listing.filterset.cursor_value)
                sql, sql_params = page_qs[:51].query.sql_with_params()
                nodes = plan_nodes(sql, sql_params, table)
                faces = {}
                for face, url in (("html", f"/logs/{slug}/"),
                                  ("api", f"/api/v1/{kind.api_name}/")):
                    faces[face] = summary(timed_gets(client, url, query, args.runs))
                # The data work alone (rows, capped count, estimate), as the naive list
                # below is timed without a request around it.
                data_timings = []
                for _ in range(args.runs):
                    started = time.perf_counter()
                    selectors.log_list(kind, user, query).total  # noqa: B018
                    data_timings.append((time.perf_counter() - started) * 1000)
                faces["data"] = summary(data_timings)
                offset = args.deep if cursor else 0
                naive = []
                for _ in range(max(1, args.runs // 4)):
                    started = time.perf_counter()
                    # The same query string validated by the same FilterSet, as a naive
                    # view would, then Django's Paginator: COUNT(*), OFFSET.
                    naive_qs = LogQuery.parse(kind, user, params).filterset.qs.order_by(
                        f"{sign}{key}", f"{sign}id")
                    paginator = Paginator(naive_qs, 50)
                    page = (paginator.page(offset // 50 + 1) if paginator.count > offset
                            else None)
                    list(page.object_list) if page else None
                    naive.append((time.perf_counter() - started) * 1000)
                naive_figures = summary(naive)
                seq = any(node == "Seq Scan" for node, _ in nodes)
                figures = dict(
                    case=f"{slug} {name}", window=window, page=page_name,
                    html=faces["html"], api=faces["api"], data=faces["data"],
                    naive=naive_figures,
                    ratio_api_vs_naive=round(naive_figures["p50_ms"] /
                                             max(faces["api"]["p50_ms"], 0.01), 1),
                    ratio_data_vs_naive=round(naive_figures["p50_ms"] /
                                              max(faces["data"]["p50_ms"], 0.01), 1),
                    plan=sorted({f"{n} ({r})" for n, r in nodes}), seq_scan=seq)
                figures_all.append(figures)
                report(**figures)
    if not figures_all:
        report(case="summary", cases=0, note="no case matched --kinds/--match")
        return
    deep = [f for f in figures_all if f["page"] != "page 1"]
    report(case="summary", cases=len(figures_all),
           worst_html_p95_ms=max(f["html"]["p95_ms"] for f in figures_all),
           worst_api_p95_ms=max(f["api"]["p95_ms"] for f in figures_all),
           over_60ms=[f"{f['case']} {f['window']} {f['page']}" for f in figures_all
                      if max(f["html"]["p95_ms"], f["api"]["p95_ms"]) > 60],
           deep_pages=len(deep),
           min_deep_ratio_api=min((f["ratio_api_vs_naive"] for f in deep), default=None),
           min_deep_ratio_data=min((f["ratio_data_vs_naive"] for f in deep), default=None),
           seq_scans=[f"{f['case']} {f['window']} {f['page']}" for f in figures_all
                      if f["seq_scan"]])


def busiest_organization():
    """The public id of the organization with the most usage (its rollup), or None."""
    from django.db.models import Sum

    from logcenter.models import UsageHourlyByOrganization

    return (UsageHourlyByOrganization.objects.exclude(organization_id="")
            .values("organization_id").annotate(n=Sum("requests")).order_by("-n")
            .values_list("organization_id", flat=True).first())


def organization_admin_client(public_id):
    """(user, client signed in as an admin of the organization): the bench's own user,
    made a member of it once."""
    from django.test import Client

    from accounts.models import Membership, Organization, User

    user, _ = User.objects.get_or_create(username="bench-org-admin", defaults={
        "email": "bench-org-admin@example.com"})
    Membership.objects.update_or_create(user=user, defaults={
        "organization": Organization.objects.get(public_id=public_id), "role": "admin"})
    client = Client()
    client.force_login(user)
    return user, client


if __name__ == "__main__":
    main()
