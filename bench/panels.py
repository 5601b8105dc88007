"""The figures and charts beside the rows (the panels request of each tab), by window.

    .venv/bin/python bench/query.py panels [--runs 20] [--windows 24h 7d 30d 90d]

Times GET /logs/<kind>/panels/ (what the page loads beside its rows) for usage, auth and
system over each window, as an administrator, and for usage each piece of the work alone
(totals and rates, the chart's buckets, each top table, the status split, p95), so a slow
panel says which piece is slow. One JSON line per case with p50/p95 ms.
"""

from _common import report, signed_in_client, summary, timed, timed_gets


def add_arguments(parser):
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--windows", nargs="+", default=["24h", "7d", "30d", "90d"])
    parser.add_argument("--kinds", nargs="+", default=["usage", "auth", "system"])
    parser.add_argument("--pieces", action="store_true", help="also time usage's pieces")


def run(args):


    user, client = signed_in_client()
    for slug in args.kinds:
        for window in args.windows:
            timings = timed_gets(client, f"/logs/{slug}/panels/", {"range": window}, args.runs)
            report(case=f"{slug} panels", window=window, runs=args.runs, **summary(timings))
    if args.pieces:
        _usage_pieces(user, args)


def _usage_pieces(user, args):
    from logcenter.analytics import charts, stats

    for window in args.windows:
        params = {"range": window}
        query = stats.parse(user, params, group_by="model")
        width = charts.choose_width(query.start, query.end)
        pieces = {
            "totals and rates": lambda: stats.usage_stats(user, params),
            "chart buckets by model": lambda: stats.buckets(query, width),
            "top users": lambda: stats.totals(stats.regroup(query, "user")),
            "top api keys": lambda: stats.totals(stats.regroup(query, "api_key")),
            "top models": lambda: stats.totals(stats.regroup(query, "model")),
            "status split": lambda: stats.totals(stats.regroup(query, "status")),
            "p95 latency and rates": lambda: stats.latest_figures(query),
        }
        for name, fn in pieces.items():
            report(case=f"usage panel piece: {name}", window=window,
                   **summary(timed(fn, max(3, args.runs // 4))))
