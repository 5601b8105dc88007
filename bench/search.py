"""What people paste into the search box (`q`), over 30 days, on the HTML page and the API.

    .venv/bin/python bench/query.py search [--runs 20] [--range 30d]

Cases on usage: a whole request ID, event ID, API key id and IP of a row two weeks old; a
username and a model name (exact: the filter's index); free text over error messages, common
and rare, and text nothing holds. On the other tabs: a request ID, and free text over their
messages (system), reasons (audit) and user agents (auth). One JSON line per case with p50/p95
ms for both faces, the rows found on page 1, and the scans PostgreSQL chose.
"""

from _common import report, signed_in_client, summary, timed_gets

FREE_TEXT = {
    "usage": ["overloaded", "connection reset", "Invalid value for 'temperature'",
              "context length", "no such text anywhere"],
    "system": ["timeout", "no such text anywhere"],
    "audit": ["no such text anywhere"],
    "auth": ["Firefox", "no such text anywhere"],
}


def add_arguments(parser):
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--range", default="30d")
    parser.add_argument("--kinds", nargs="+", default=["usage", "system", "audit", "auth"])


def _cases(kind):
    from datetime import timedelta

    from django.utils import timezone

    two_weeks = timezone.now() - timedelta(days=14)
    row = (kind.model.objects.filter(occurred_at__lt=two_weeks).order_by("-occurred_at")
           .first())
    cases = []
    if row is not None:
        cases.append(("request ID", row.request_id))
        cases.append(("event ID", str(row.event_id)))
        for field in ("api_key_id", "ip", "username", "platform_model"):
            value = getattr(row, field, None)
            if value:
                cases.append((field.replace("_", " "), str(value)))
    cases += [("free text", text) for text in FREE_TEXT.get(kind.slug, [])]
    return cases


def run(args):

    from query import plan_nodes
    from logcenter.core import selectors
    from logcenter.core.pagination import keyset_queryset
    from logcenter.core.registry import registry

    user, client = signed_in_client()
    for slug in args.kinds:
        kind = registry[slug]
        for name, text in _cases(kind):
            query = {"q": text, "range": args.range, "page_size": "50"}
            listing = selectors.log_list(kind, user, query)
            page_qs = keyset_queryset(listing.queryset, "-occurred_at", None)
            sql, params = page_qs[:51].query.sql_with_params()
            faces = {face: summary(timed_gets(client, url, query, args.runs))
                     for face, url in (("html", f"/logs/{slug}/"),
                                       ("api", f"/api/v1/{kind.api_name}/"))}
            report(case=f"{slug} q: {name}", text=text[:40], window=args.range,
                   rows=len(listing.page.rows), **faces,
                   scans=sorted({f"{node} {rel}" for node, rel in
                                 plan_nodes(sql, params, kind.model._meta.db_table)}))
