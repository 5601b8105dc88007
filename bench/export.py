"""Export throughput and memory: usage rows to CSV through the real export job.

    .venv/bin/python bench/export.py [--rows 100000 1000000] [--format csv]

Makes sure the bench database holds enough usage rows (COPY, via seed_demo's generator),
then runs one export per size in a fresh process and prints rows/s and that process's
peak RSS, so memory can be compared between sizes (it should stay flat).
Uses DATABASE_URL, default postgres://postgres@127.0.0.1:5432/logcenter_bench.
"""

import argparse
import json
import resource
import subprocess
import sys
import time

from _common import report, setup_django


def ensure_rows(n):
    from django.core.management import call_command

    from logcenter.models import UsageRecord

    have = UsageRecord.objects.count()
    if have < n:
        started = time.perf_counter()
        call_command("seed_demo", usage=n - have, verbosity=0)
        report(case="load", rows_added=n - have, seconds=time.perf_counter() - started)


def run_one(rows, fmt):
    """In this process: export the newest `rows` usage rows; print figures."""
    from django.conf import settings

    from accounts.models import User
    from logcenter.exports import jobs as exports
    from logcenter.models import ExportJob, UsageRecord

    settings.MEDIA_ROOT = settings.BASE_DIR / "var" / "bench"
    user, _ = User.objects.get_or_create(username="bench-export", defaults={
        "email": "bench-export@example.com", "is_superuser": True, "is_active": True})
    if not user.is_superuser:
        user.is_superuser = True
        user.save()
    boundary = (UsageRecord.objects.order_by("-occurred_at", "-id")
                .values_list("occurred_at", flat=True)[rows - 1])
    params = {"start_time": [boundary.isoformat()], "ordering": ["-occurred_at"]}
    job = ExportJob.objects.create(user=user, kind="usage", format=fmt, params=params)
    started = time.perf_counter()
    exports.export_run(job.pk)
    elapsed = time.perf_counter() - started
    job.refresh_from_db()
    path = exports.export_dir() / job.file_name
    size = path.stat().st_size
    path.unlink()
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"case": f"export-{fmt}", "rows": job.rows_written,
                      "seconds": round(elapsed, 2), "rows_per_s": round(job.rows_written / elapsed),
                      "peak_rss_mb": round(peak_mb, 1), "file_mb": round(size / 2**20, 1)}))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--format", default="csv", choices=["csv", "json", "ndjson"])
    parser.add_argument("--one", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    setup_django(migrate=args.one is None)
    if args.one:
        run_one(args.one, args.format)
        return
    ensure_rows(max(args.rows))
    for rows in args.rows:
        out = subprocess.run([sys.executable, __file__, "--one", str(rows), "--format",
                              args.format], capture_output=True, text=True, check=True)
        print(out.stdout.strip().splitlines()[-1], flush=True)


if __name__ == "__main__":
    main()
