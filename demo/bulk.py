"""Extra usage rows for benchmarks (`seed_demo --usage N`): millions of rows, fast.

Rows are tuples (demo.usage.UsageMaker), never models or factory objects, handed to the
usage kind's storage engine (`Engine.bulk_load`): the PostgreSQL engine COPYs them into
index-free monthly tables and swaps those in with their indexes built once; the portable
engine uses bulk_create. Chunks are generated in time order (each chunk one slice of the
window's traffic, sorted), with time-ordered ids (UUIDv7 event_id, request_id led by the
millisecond), the way live ingestion arrives. Where the engine takes several writers at
once, `workers` processes generate and write side by side (the server's work, not Python,
is then the bound). The rows use random event ids and are not idempotent.
"""

import multiprocessing
import random
import threading
import time
from contextlib import contextmanager
from datetime import timedelta

from django.db import connections
from django.utils import timezone

from accounts.models import ApiKey, User
from logcenter.analytics.rollups import rollup_rebuild
from logcenter.core.registry import registry
from logcenter.engines import engine_for
from logcenter.models import USAGE_ROLLUPS, UsageRecord

from demo.common import BROWSER_UAS, EXTRA_DAYS, Clock, Person, key_infos
from demo.usage import USAGE_FIELDS, UsageMaker

_EXTRA = {}  # state shared with the worker processes (inherited through fork)


def _check_fields():
    missing = ({f.name for f in UsageRecord._meta.concrete_fields} - set(USAGE_FIELDS)
               - {UsageRecord._meta.pk.name})
    if missing:
        raise RuntimeError(f"UsageRecord has fields the demo generator does not fill: {missing}")


def add_usage(n, chunk=20_000, days=EXTRA_DAYS, workers=1, log=print, alongside=None):
    """Append `n` usage rows spread over the last `days` days; returns (rows, seconds).

    `alongside()`, when given, runs in a thread of its own while the rollups are rebuilt
    where the store takes another writer meanwhile, else after the rebuild.
    """
    _check_fields()
    kind = registry.for_model(UsageRecord)
    engine = engine_for(kind)
    setup_rng = random.Random()
    now = timezone.now()
    start = now - timedelta(days=days)
    people = []
    for user in User.objects.order_by("pk"):
        people.append(Person(user=user, group="default", company="", office_ip="192.0.2.10",
                             browser_ua=BROWSER_UAS[0], idp="password", mfa=False,
                             weight=0.3 + setup_rng.random()))
    keys_by_owner = {}
    for key in ApiKey.objects.select_related("project__organization").order_by("pk"):
        keys_by_owner.setdefault(key.owner_id, []).append(key)
    people = [p for p in people if p.user.pk in keys_by_owner]
    if not people:
        raise RuntimeError("no API keys: run seed_demo without --usage first")
    for p in people:
        p.keys = keys_by_owner[p.user.pk]
        p.group = p.keys[0].group or "default"
    keys, clock = key_infos(setup_rng, people), Clock(setup_rng, now, days)
    load = engine.bulk_load(kind, USAGE_FIELDS, start, now, n)
    _EXTRA.clear()
    _EXTRA.update(n=n, keys=keys, clock=clock, load=load)
    chunks = [(first, min(chunk, n - first)) for first in range(0, n, chunk)]

    started = time.perf_counter()
    done = 0

    def progress(size):
        nonlocal done
        done += size
        log(f"  {done:,} / {n:,} rows ({done / (time.perf_counter() - started):,.0f} rows/s)")

    workers = max(1, min(workers if engine.concurrent_writers else 1, len(chunks)))
    if workers > 1 and "fork" in multiprocessing.get_all_start_methods():
        connections.close_all()  # children open their own; none may inherit a socket
        pool = multiprocessing.get_context("fork").Pool(workers, initializer=_extra_init)
        try:
            for size in pool.imap_unordered(_extra_chunk, chunks):
                progress(size)
            pool.close()
        except BaseException:
            pool.terminate()
            raise
        finally:
            pool.join()
    else:
        _extra_init()
        for bounds in chunks:
            progress(_extra_chunk(bounds))
    if load.finishing:
        log(f"  {time.perf_counter() - started:.0f}s: {load.finishing} …")
    load.finish()
    log(f"  {time.perf_counter() - started:.0f}s: rebuilding the hourly usage rollups for the "
        "loaded range …")
    beside = alongside if engine.concurrent_writers else None
    with _in_thread(beside):
        rollup_rebuild(start, now)
    if alongside is not None and beside is None:
        alongside()
    engine.after_bulk_load(USAGE_ROLLUPS)
    return done, time.perf_counter() - started


@contextmanager
def _in_thread(work):
    """Run `work()` in a thread (with its own database connection) during the block."""
    if work is None:
        yield
        return
    errors = []

    def run():
        try:
            work()
        except BaseException as error:  # re-raised in the caller
            errors.append(error)
        finally:
            connections.close_all()

    thread = threading.Thread(target=run)
    thread.start()
    try:
        yield
    finally:
        thread.join()
    if errors:
        raise errors[0]


def _extra_init():
    """Per process: a fresh random stream (never one inherited from the parent)."""
    rng = random.Random()
    _EXTRA["rng"] = rng
    _EXTRA["maker"] = UsageMaker(rng, _EXTRA["keys"], _EXTRA["clock"])


def _extra_rows(first, size):
    n, maker = _EXTRA["n"], _EXTRA["maker"]
    getbits = _EXTRA["rng"].getrandbits
    make_row = maker.row
    lo, hi = first / n, (first + size) / n
    picks = [maker.pick_key(lo, hi) for _ in range(size)]
    picks.sort(key=lambda p: p[1])
    for key, ts in picks:
        ms = int(ts * 1000)
        # UUIDv7: 48-bit milliseconds, version 7, variant 10, random rest.
        h = f"{ms:012x}7{getbits(12):03x}{0x8000 | getbits(14):04x}{getbits(48):012x}"
        yield make_row(f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}", key, ts,
                       request_id=f"req_{ms:012x}{getbits(48):012x}")


def _extra_chunk(bounds):
    first, size = bounds
    _EXTRA["load"].write(first, _extra_rows(first, size))
    return size
