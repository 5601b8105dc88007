"""Writes during migration 0015: the usage filter indexes are rebuilt while events come in.

    .venv/bin/python bench/online_migration.py [--interval-ms 50]

Unapplies 0015 (the old indexes are rebuilt online too), then applies it again, while a
writer thread stores one usage event through the ingestion service every --interval-ms.
One JSON line per direction: how long the migration took and the writer's latency
(p50/p95/max ms) and count. A plain CREATE INDEX would hold every write for the whole build.
Uses DATABASE_URL, default postgres://postgres@127.0.0.1:5432/logcenter_bench (seeded with
`seed_demo --usage 10000000`); it leaves the database on the newest migration.
"""

import argparse
import logging
import random
import threading
import time

from _common import percentile, report, setup_django
from ingest import make_batch

BEFORE = ("logcenter", "0014_sum_int8_aggregate")
TARGET = ("logcenter", "0015_filter_indexes_carry_the_sort_keys")


class Writer(threading.Thread):
    """Stores one event at a time on a connection of its own, timing each."""

    def __init__(self, interval_ms):
        super().__init__(daemon=True)
        self.interval = interval_ms / 1000
        self.timings_ms = []
        self.stop = threading.Event()

    def run(self):
        from django.db import connection

        from logcenter.ingest.ingestion import ingest

        rng = random.Random(7)
        try:
            while not self.stop.is_set():
                batch = make_batch(rng, 1)
                started = time.perf_counter()
                result = ingest(batch, kind_slug="usage")
                self.timings_ms.append((time.perf_counter() - started) * 1000)
                assert not result.rejected, result.rejected
                self.stop.wait(self.interval)
        finally:
            connection.close()


def run(target, interval_ms):
    from django.core.management import call_command

    writer = Writer(interval_ms)
    writer.start()
    started = time.perf_counter()
    call_command("migrate", *target, verbosity=0)
    seconds = time.perf_counter() - started
    writer.stop.set()
    writer.join()
    timings = writer.timings_ms
    report(case=f"migrate to {target[1]}", seconds=seconds, writes=len(timings),
           write_p50_ms=percentile(timings, 50), write_p95_ms=percentile(timings, 95),
           write_max_ms=max(timings, default=0.0))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--interval-ms", type=float, default=50)
    args = parser.parse_args()
    setup_django(migrate=False)  # the runs below are the migrations being measured
    logging.getLogger("celery").setLevel(logging.WARNING)  # in-process folds, one per batch
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM logcenter_usagerecord")
        report(case="usage rows", rows=cursor.fetchone()[0])
    run(BEFORE, args.interval_ms)
    run(TARGET, args.interval_ms)


if __name__ == "__main__":
    main()
