"""List pages and API calls on the big usage table: keyset pages versus a naive Django list.

    .venv/bin/python bench/query.py [--runs 5] [--deep 10000] [--filters-only|--sorts-only]

For each offered sort and each page filter (with the default time window), page 1 and a
page `--deep` rows deep are timed through Django's test client, as HTML and as API, and
the same query through a naive implementation (Paginator + OFFSET + COUNT). Each case
prints one JSON line: p50/p95 ms for both, the ratio, and the scan node PostgreSQL chose
for the big table (Index Scan, Bitmap Heap Scan, Seq Scan …).
Uses DATABASE_URL, default postgres://postgres@127.0.0.1:5432/logcenter_bench.
"""

import argparse
import json
import time

from _common import report, setup_django, summary


def plan_nodes(sql, params):
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN (FORMAT JSON) " + sql, params)
        plan = cursor.fetchone()[0]
    if isinstance(plan, str):
        plan = json.loads(plan)
    found = []

    def walk(node):
        if "usagerecord" in node.get("Relation Name", "") or node.get("Index Name", "").startswith(
                "usage_"):
            found.append(f"{node['Node Type']}"
                         + (f" ({node['Index Name']})" if node.get("Index Name") else ""))
        for child in node.get("Plans", []):
            walk(child)

    walk(plan[0]["Plan"])
    return found


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--deep", type=int, default=10_000)
    parser.add_argument("--filters-only", action="store_true")
    parser.add_argument("--sorts-only", action="store_true")
    args = parser.parse_args()
    setup_django()
    from django.core.paginator import Paginator
    from django.test import Client
    from django.test.utils import setup_test_environment

    from accounts.models import User
    from logcenter import selectors
    from logcenter.pagination import NEXT, Cursor, keyset_queryset
    from logcenter.registry import registry

    setup_test_environment()
    kind = registry["usage"]
    user, _ = User.objects.get_or_create(username="bench-query", defaults={
        "email": "bench-query@example.com", "is_superuser": True})
    client = Client()
    client.force_login(user)
    sample = kind.model.objects.order_by("-occurred_at").first()
    report(case="setup", usage_rows=kind.model.objects.count())

    filter_values = {
        "user": sample.username, "api_key": sample.api_key_name, "group": sample.group,
        "endpoint": sample.endpoint, "platform_model": sample.platform_model,
        "upstream_model": sample.upstream_model, "upstream_name": sample.upstream_name,
        "channel_id": sample.channel_id, "binding_code": sample.binding_code,
        "protocol": sample.protocol, "billing_mode": sample.billing_mode, "status": "error",
        "is_stream": "true", "cost_min": "0.01", "request_id": sample.request_id,
    }
    cases = []
    if not args.filters_only:
        cases += [(f"sort {o}", {"ordering": o}) for o in
                  ("-occurred_at", "-cost", "-total_tokens", "-latency_ms")]
    if not args.sorts_only:
        cases += [(f"filter {k}", {k: v}) for k, v in filter_values.items()]

    for name, params in cases:
        params = {**params, "page_size": "50"}
        filterset = selectors.log_filter(kind, user, params)
        ordering = filterset.ordering_value
        key = ordering.lstrip("-")
        sign = "-" if ordering.startswith("-") else ""
        ordered = filterset.qs.order_by(f"{sign}{key}", f"{sign}id")
        boundary = ordered.values_list(key, "id")[args.deep:args.deep + 1]
        pages = [("page 1", None)]
        if boundary:
            value, pk = boundary[0]
            pages.append((f"{args.deep} deep", Cursor(ordering, value, pk, NEXT).encode()))
        for page_name, cursor in pages:
            query = dict(params, **({"cursor": cursor} if cursor else {}))
            listing = selectors.log_list(kind, user, query)
            page_qs = keyset_queryset(listing.queryset, ordering,
                                      listing.filterset.cursor_value)
            sql, sql_params = page_qs[:51].query.sql_with_params()
            nodes = plan_nodes(sql, sql_params)
            figures = {}
            for face, url in (("html", "/logs/usage/"), ("api", "/api/v1/usage-records/")):
                timings = []
                for _ in range(args.runs):
                    started = time.perf_counter()
                    response = client.get(url, query)
                    timings.append((time.perf_counter() - started) * 1000)
                    assert response.status_code == 200, (url, query, response.status_code)
                figures[face] = summary(timings)
            offset = args.deep if cursor else 0
            naive = []
            for _ in range(max(1, args.runs // 2)):
                started = time.perf_counter()
                paginator = Paginator(ordered, 50)
                page = paginator.page(offset // 50 + 1) if paginator.count > offset else None
                list(page.object_list) if page else None
                naive.append((time.perf_counter() - started) * 1000)
            naive_figures = summary(naive)
            report(case=name, page=page_name, html=figures["html"], api=figures["api"],
                   naive=naive_figures,
                   ratio_api_vs_naive=round(naive_figures["p50_ms"] /
                                            max(figures["api"]["p50_ms"], 0.01), 1),
                   plan=nodes)


if __name__ == "__main__":
    main()
