"""Tamper evidence: how fast rows are sealed, and how fast verify_logs checks them.

    .venv/bin/python bench/verify.py [--seconds 60] [--skip-backlog] [--skip-verify]

Cases, one JSON line each:
- seal backlog: every row not sealed yet (a freshly loaded database: all of them), sealed
  as the beat task does (logcenter.integrity.seal): rows/s;
- seal while ingesting: a second process ingests batches of 1000 usage events through the
  service (as bench/ingest.py) for --seconds, while this one seals every --interval
  seconds (the beat task does it every 60 s): events/s stored, rows/s sealed, and the rows
  left unsealed at the end;
- verify: verify_logs' work for each kind, with 1 and with 2 worker processes: rows/s,
  seconds, peak RSS of this process and of the workers (resource.getrusage).
Uses DATABASE_URL, default postgres://postgres@127.0.0.1:5432/logcenter_bench; load it with
`manage.py seed_demo --usage 10000000`.
"""

import argparse
import multiprocessing
import random
import resource
import time

from _common import report, setup_django


def peak_mb():
    return {"peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            "workers_peak_rss_mb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024}


def unsealed():
    from logcenter.integrity.models import DigestBlock
    from logcenter.core.registry import registry

    total = 0
    for kind in registry:
        last = (DigestBlock.objects.filter(kind=kind.slug).order_by("-seq")
                .values_list("last_id", flat=True).first()) or 0
        total += kind.model.objects.filter(pk__gt=last).count()
    return total


def bench_backlog():
    from logcenter.integrity import seal

    waiting = unsealed()
    started = time.perf_counter()
    run = seal()
    elapsed = time.perf_counter() - started
    report(case="seal backlog", rows_waiting=waiting, rows=run.rows, blocks=run.blocks,
           seconds=elapsed, rows_per_s=run.rows / elapsed if elapsed else 0.0)


def _ingest(seconds, counter):
    import django
    from django.db import connections

    django.setup()
    connections.close_all()
    from ingest import make_batch

    from logcenter.analytics import rollups
    from logcenter.ingest.ingestion import ingest

    rollups._last_fold_request = float("inf")  # the fold is not what is measured here
    rng, deadline = random.Random(7), time.monotonic() + seconds
    while time.monotonic() < deadline:
        counter.value += ingest(make_batch(rng, 1000)).accepted


def bench_while_ingesting(seconds, interval):
    from django.db import connections

    from logcenter.integrity import seal

    seal()  # start level
    connections.close_all()
    counter = multiprocessing.get_context("fork").Value("q", 0)
    writer = multiprocessing.get_context("fork").Process(target=_ingest,
                                                         args=(seconds, counter))
    started = time.perf_counter()
    writer.start()
    sealed, runs, run_seconds = 0, 0, []
    while writer.is_alive():
        run = seal()
        sealed += run.rows
        runs += 1
        run_seconds.append(run.seconds)
        time.sleep(max(0.0, interval - run.seconds))
    writer.join()
    ingested_for = time.perf_counter() - started
    left = unsealed()
    run = seal()  # what was left
    sealed += run.rows
    report(case="seal while ingesting", seconds=ingested_for, events=counter.value,
           events_per_s=counter.value / ingested_for, sealed_during=sealed - run.rows,
           sealed_per_s=(sealed - run.rows) / ingested_for, seal_runs=runs,
           seal_run_max_s=max(run_seconds, default=0.0), unsealed_at_end=left,
           last_run_rows=run.rows, last_run_s=run.seconds)


def bench_verify(workers_list):
    from logcenter.integrity import verification
    from logcenter.core.registry import registry

    for workers in workers_list:
        for kind in registry:
            started = time.perf_counter()
            result = verification.verify_kind(kind, workers=workers)
            elapsed = time.perf_counter() - started
            report(case="verify", kind=kind.slug, workers=workers, ok=result.ok,
                   digests=result.blocks_total, rows=result.rows_total,
                   removed=result.rows_removed, seconds=elapsed,
                   rows_per_s=result.rows_total / elapsed if elapsed else 0.0, **peak_mb())


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--interval", type=float, default=5.0)
    parser.add_argument("--workers", type=int, nargs="*", default=[1, 2])
    parser.add_argument("--skip-backlog", action="store_true")
    parser.add_argument("--skip-ingest", action="store_true")
    parser.add_argument("--skip-verify", action="store_true")
    args = parser.parse_args()
    setup_django()
    from django.conf import settings

    # As in production: with DEBUG on (the bench settings) Django keeps every query's text,
    # blocks' manifests and ingested batches included, and the peak RSS measures that.
    settings.DEBUG = False
    from logcenter.engines.postgres.planner_stats import refresh_stale_tables

    report(case="vacuumed and analyzed", tables=refresh_stale_tables())
    from logcenter.core.registry import registry

    report(case="setup", rows={kind.slug: kind.model.objects.count() for kind in registry},
           **peak_mb())
    if not args.skip_backlog:
        bench_backlog()
    if not args.skip_ingest:
        bench_while_ingesting(args.seconds, args.interval)
    if not args.skip_verify:
        bench_verify(args.workers)


if __name__ == "__main__":
    main()
