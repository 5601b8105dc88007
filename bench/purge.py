"""Per-organization purge: rows/s removed while readers read.

    .venv/bin/python bench/query.py purge [--keep-days 30] [--seconds 60] [--readers 2]
                                          [--organization org_…] [--batch 5000]

DESTRUCTIVE: the organization's usage rows older than --keep-days are deleted for good
(with their removal records), as its plan's purge would. The organization (default: the
one with the most usage) is moved for the run to a plan keeping usage --keep-days, then
back to its own. Meanwhile --readers threads read, as the customer and the staff do, the
organization's usage list (page 1, newest first) and its figures; their p50/p95 show
whether the purge holds them up. Prints the rows removed and rows/s of the batches, the
seconds the rollup hours then take to be summed again, and the readers' latencies in each
phase.
"""

import threading
import time
from datetime import timedelta

from _common import report, summary

MIGRATE = True


def add_arguments(parser):
    parser.add_argument("--keep-days", type=int, default=30)
    parser.add_argument("--seconds", type=float, default=60, help="the purge's time budget")
    parser.add_argument("--readers", type=int, default=2)
    parser.add_argument("--organization", default="")
    parser.add_argument("--batch", type=int, default=5000)


def _reader(user_name, organization, stop, timings):
    """Read the organization's newest usage page and figures until `stop` (its own
    database connection: a thread's)."""
    from django.db import connections
    from django.test import Client

    from accounts.models import User

    client = Client()
    client.force_login(User.objects.get(username=user_name))
    urls = [("/api/v1/usage-records/", {"organization_id": organization, "page_size": "50"}),
            ("/api/v1/usage/stats/", {"organization_id": organization, "range": "30d"})]
    try:
        while not stop.is_set():
            for url, query in urls:
                started = time.perf_counter()
                response = client.get(url, query)
                timings.append((time.perf_counter() - started) * 1000)
                assert response.status_code == 200, (url, response.status_code)
    finally:
        connections.close_all()


def run(args):
    from django.utils import timezone

    from accounts.models import Organization, Plan
    from logcenter.analytics import rollups
    from logcenter.core.registry import registry
    from logcenter.models import UsageRecord
    from logcenter.retention import purge as retention
    from query import busiest_organization
    from _common import signed_in_client

    public_id = args.organization or busiest_organization()
    organization = Organization.objects.select_related("plan").get(public_id=public_id)
    cutoff = timezone.now() - timedelta(days=args.keep_days)
    expired = UsageRecord.objects.filter(organization_id=public_id, occurred_at__lt=cutoff)
    report(case="setup", organization=public_id, plan=organization.plan.slug,
           expired_rows=expired.count(), keep_days=args.keep_days)
    staff, _ = signed_in_client()
    own_plan = organization.plan
    bench_plan, _ = Plan.objects.update_or_create(slug="bench-purge", defaults={
        "name": "Bench purge", "retention_days": {"usage": args.keep_days}})
    Organization.objects.filter(pk=organization.pk).update(plan=bench_plan)
    stop, timings = threading.Event(), []
    readers = [threading.Thread(target=_reader, args=(staff.username, public_id, stop, timings))
               for _ in range(args.readers)]
    try:
        for thread in readers:
            thread.start()
        time.sleep(2)
        idle = summary(timings) if timings else None
        timings.clear()
        oldest = retention.first_before(expired, cutoff)
        started = time.perf_counter()
        deleted, done = retention.purge_kind(
            registry["usage"], cutoff, resum=False,
            batch_size=args.batch, deadline=time.monotonic() + args.seconds,
            organization_id=public_id, reason=f"bench: {public_id}")
        elapsed = time.perf_counter() - started
        purge_reads = len(timings)
        started = time.perf_counter()
        if oldest is not None:  # as the nightly job does after the organizations' purges
            rollups.rollup_rebuild(oldest, cutoff)
        resummed = time.perf_counter() - started
    finally:
        stop.set()
        for thread in readers:
            thread.join()
        Organization.objects.filter(pk=organization.pk).update(plan=own_plan)
    report(case="per-organization purge", organization=public_id, rows=deleted,
           finished=done, seconds=elapsed, rows_per_s=deleted / elapsed if elapsed else 0,
           rollups_resummed_s=resummed, readers_before=idle,
           readers_during=summary(timings[:purge_reads]) if purge_reads else None,
           readers_during_resum=(summary(timings[purge_reads:])
                                 if len(timings) > purge_reads else None),
           reads=len(timings))
