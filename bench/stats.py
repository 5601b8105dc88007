"""Usage stats on the big table: rollups versus the raw GROUP BY, in the same run.

    .venv/bin/python bench/stats.py [--runs 10] [--raw-runs 3]

Cases: 30-day cost by model per day, 7-day usage by user per hour (all 168 buckets in one
call, and one page of 24 as `limit=24` gives), and rpm/tpm (last 60 s). Prints one JSON line per case and source with p50/p95 ms, and the speed-up.
Uses DATABASE_URL, default postgres://postgres@127.0.0.1:5432/logcenter_bench; load it
with `manage.py seed_demo --usage 10000000` (rollups are rebuilt at the end of the load).
"""

import argparse

from _common import report, setup_django, summary, timed


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--raw-runs", type=int, default=3)
    args = parser.parse_args()
    setup_django()
    from logcenter.engines.postgres.planner_stats import refresh_stale_tables

    # As the beat job (planner-stats) keeps them: rows added since the load, by the
    # ingestion bench say, are in the planner's statistics.
    report(case="vacuumed and analyzed", tables=refresh_stale_tables())
    from django.utils import timezone

    from accounts.models import User
    from logcenter.analytics import stats
    from logcenter.models import USAGE_ROLLUPS, UsageRecord

    user, _ = User.objects.get_or_create(username="bench-stats", defaults={
        "email": "bench-stats@example.com", "is_superuser": True})
    now = timezone.now()
    report(case="setup", usage_rows=UsageRecord.objects.count(),
           rollup_rows={r.__name__: r.objects.count() for r in USAGE_ROLLUPS})
    cases = [
        ("30d cost by model per day", "1d", "model", 30, None),
        ("7d usage by user per hour", "1h", "user", 7, None),
        # What one API call with limit=24 computes: a day of the same hours.
        ("7d usage by user per hour, a page of 24 buckets", "1h", "user", 7, 24),
    ]
    for name, width, group, days, limit in cases:
        params = {"start_time": (now - timezone.timedelta(days=days)).isoformat(),
                  "end_time": now.isoformat()}
        results = {}
        for source, runs in (("rollup", args.runs), ("raw", args.raw_runs)):
            def run(source=source):
                query = stats.parse(user, params, group_by=group)
                return stats.buckets(query, width, source="auto" if source == "rollup"
                                     else "raw", limit=limit)
            data = run()
            timings = timed(run, runs)
            results[source] = summary(timings)
            rollup = stats.parse(user, params, group_by=group).rollup
            report(case=name, source=source if source == "raw" else rollup.__name__,
                   runs=runs, buckets=len(data),
                   groups=sum(len(b["results"]) for b in data), **results[source])
        report(case=name, speedup_p50=results["raw"]["p50_ms"] / results["rollup"]["p50_ms"])
    timings = timed(lambda: stats.usage_rates(user, {}), args.runs)
    report(case="rpm/tpm (last 60 s)", source="raw rows, time index", runs=args.runs,
           **summary(timings))


if __name__ == "__main__":
    main()
