"""Stream delivery: events/s delivered to a local Splunk HEC and a local Elasticsearch
`_bulk` receiver in batches of 500, and the lag while ingestion runs at 5,000 events/s.

    .venv/bin/python bench/streams.py [--events 200000] [--rate 5000] [--seconds 30]

The receivers run in a process of their own (threaded HTTP servers answering as the real
APIs do: HEC's {"text":"Success","code":0}, a `_bulk` response with one item per action)
and count events without parsing every one, as a SIEM on another machine would cost us
nothing. Cases, one JSON line each:
- `throughput-<type>`: `--events` stored usage rows, one destination from the start, the
  pump (logcenter.streams.delivery.pump) run until caught up: events/s;
- `lag-<type>`: ingestion (the service, batches of 100) at `--rate` events/s for
  `--seconds` in another process while workers pump as the beat does (every
  STREAMS_PUMP_SECONDS): the lag of each delivered batch (its newest event's arrival minus
  its ingestion time), p50/p95/max, and the events still behind at the end.
Uses DATABASE_URL, default postgres://postgres@127.0.0.1:5432/logcenter_bench_streams (a
database of its own: the rows it adds would change the other benchmarks' figures).
"""

import argparse
import json
import multiprocessing
import os
import subprocess
import sys
import threading
import time
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from _common import ROOT, percentile, report, setup_django

DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/logcenter_bench_streams"
HEC_TOKEN = "bench-hec-token-0123456789"


# --- the receivers (a process of their own) -------------------------------------------

def _receiver(port_queue, stats):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        # The answer's head and body leave in two writes: with Nagle's algorithm the body
        # waits for the client's delayed ACK (40 ms a batch), which no real receiver costs.
        disable_nagle_algorithm = True

        def log_message(self, *args):
            pass

        def do_POST(self):
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            now = time.time()
            if self.path.startswith("/services/collector"):
                if self.headers.get("Authorization") != f"Splunk {HEC_TOKEN}":
                    return self._answer(401, {"text": "Invalid token", "code": 4})
                count = body.count(b'"sourcetype"')
                last = body[body.rfind(b'{"time"'):]
                ingested = json.loads(last)["event"]["ingested_at"]
                answer = {"text": "Success", "code": 0}
            elif self.path.split("?")[0].endswith("/_bulk"):
                lines = body.rstrip(b"\n").split(b"\n")
                count = len(lines) // 2
                ingested = json.loads(lines[-1])["event"]["created"]
                item = {"create": {"status": 201, "result": "created"}}
                answer = {"took": 1, "errors": False, "items": [item] * count}
            else:
                return self._answer(404, {})
            lag = now - datetime.fromisoformat(ingested.replace("Z", "+00:00")).timestamp()
            with stats["lock"]:
                stats["events"] += count
                stats["lags"].append(lag)
            self._answer(200, answer)

        def _answer(self, status, payload):
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    port_queue.put(server.server_address[1])
    server.serve_forever()


class Receivers:
    """The receiver process, and its counts read over a pipe."""

    def __init__(self):
        self.port_queue = multiprocessing.Queue()
        self.parent, child = multiprocessing.Pipe()
        self.process = multiprocessing.Process(target=_serve, args=(self.port_queue, child),
                                               daemon=True)
        self.process.start()
        self.port = self.port_queue.get(timeout=10)

    def stats(self, reset=False):
        self.parent.send("reset" if reset else "read")
        return self.parent.recv()

    def stop(self):
        self.process.terminate()


def _serve(port_queue, pipe):
    stats = {"events": 0, "lags": [], "lock": threading.Lock()}
    threading.Thread(target=_receiver, args=(port_queue, stats), daemon=True).start()
    while True:
        command = pipe.recv()
        with stats["lock"]:
            pipe.send({"events": stats["events"], "lags": list(stats["lags"])})
            if command == "reset":
                stats["events"], stats["lags"] = 0, []


# --- the cases ------------------------------------------------------------------------

def _destination(kind_of, port, user):
    from logcenter.streams import services

    if kind_of == "splunk_hec":
        values, credentials = {"endpoint": f"http://127.0.0.1:{port}"}, {"token": HEC_TOKEN}
    else:
        values, credentials = {"endpoint": f"http://127.0.0.1:{port}"}, {}
    values.update(name=f"bench {kind_of} {time.time_ns()}", type=kind_of, kinds=["usage"],
                  batch_size=500, interval_seconds=0)
    return services.destination_save(user, values, credentials=credentials)


def _bench_user():
    from accounts.models import User

    user, _ = User.objects.get_or_create(username="bench-streams", defaults={
        "email": "bench-streams@example.com", "is_superuser": True})
    return user


def ensure_rows(count):
    """At least `count` usage rows (ingested through the service, as services send them)."""
    from logcenter.models import UsageRecord

    have = UsageRecord.objects.count()
    if have >= count:
        return
    subprocess.run([sys.executable, __file__, "--role", "ingest", "--rate", "0",
                    "--events", str(count - have)], check=True)


def bench_throughput(kind_of, receivers, events):
    from logcenter.models import UsageRecord
    from logcenter.streams import delivery
    from logcenter.streams.models import Destination

    ensure_rows(events)
    destination = _destination(kind_of, receivers.port, _bench_user())
    first = UsageRecord.objects.order_by("-id").values_list("id", flat=True)[events - 1]
    Destination.objects.filter(pk=destination.pk).update(cursor={"usage": first - 1})
    receivers.stats(reset=True)
    started = time.perf_counter()
    delivered = 0
    while delivered < events:
        result = delivery.pump(destination.pk, budget=600, force=True)
        assert not result.error, result.error
        delivered += result.delivered
        if not result.delivered:
            break
    elapsed = time.perf_counter() - started
    got = receivers.stats()["events"]
    report(case=f"throughput-{kind_of}", batch_size=500, events=delivered, received=got,
           seconds=elapsed, events_per_s=delivered / elapsed)


def bench_lag(kind_of, receivers, rate, seconds):
    from django.conf import settings

    from logcenter.streams import delivery

    destination = _destination(kind_of, receivers.port, _bench_user())
    receivers.stats(reset=True)
    ingest = subprocess.Popen([sys.executable, __file__, "--role", "ingest", "--rate", str(rate),
                               "--seconds", str(seconds)])
    tick = settings.LOGCENTER_STREAMS["PUMP_SECONDS"]
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:  # as the beat does: a pump per tick
        started = time.monotonic()
        delivery.pump(destination.pk, budget=tick, force=True)
        time.sleep(max(0.0, tick - (time.monotonic() - started)))
    ingest.wait()
    destination.refresh_from_db()
    behind_at_end = delivery.health(destination).behind
    delivery.pump(destination.pk, budget=60, force=True)
    stats = receivers.stats()
    lags = stats["lags"]
    report(case=f"lag-{kind_of}", rate=rate, seconds=seconds, delivered=stats["events"],
           behind_at_end=behind_at_end, lag_p50_s=percentile(lags, 50),
           lag_p95_s=percentile(lags, 95), lag_max_s=max(lags) if lags else 0.0)


def run_ingest(rate, seconds, events):
    """Ingest usage through the service: `rate` events/s for `seconds` (rate 0: `events`
    as fast as it goes)."""
    import random

    sys.path.insert(0, str(ROOT / "bench"))
    from ingest import make_batch

    from logcenter.ingest.ingestion import ingest

    rng, size = random.Random(), 100
    if rate == 0:
        for _ in range(0, events, 1000):
            ingest(make_batch(rng, 1000))
        return
    started, sent = time.monotonic(), 0
    while time.monotonic() - started < seconds:
        ingest(make_batch(rng, size))
        sent += size
        ahead = sent / rate - (time.monotonic() - started)
        if ahead > 0:
            time.sleep(ahead)
    print(json.dumps({"role": "ingest", "sent": sent,
                      "rate": sent / (time.monotonic() - started)}), file=sys.stderr)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--rate", type=int, default=5000)
    parser.add_argument("--seconds", type=int, default=30)
    parser.add_argument("--types", nargs="*", default=["splunk_hec", "elasticsearch"])
    parser.add_argument("--cases", nargs="*", default=["throughput", "lag"])
    parser.add_argument("--role", default="bench")
    args = parser.parse_args()
    os.environ.setdefault("DATABASE_URL", DEFAULT_URL)
    os.environ.setdefault("MIGRATION_DATABASE_URL", "")
    setup_django(DEFAULT_URL, migrate=args.role == "bench")
    if args.role == "ingest":
        from logcenter.analytics import rollups

        rollups._last_fold_request = float("inf")  # the beat folds; not timed here
        return run_ingest(args.rate, args.seconds, args.events)
    receivers = Receivers()
    try:
        for kind_of in args.types:
            if "throughput" in args.cases:
                bench_throughput(kind_of, receivers, args.events)
            if "lag" in args.cases:
                bench_lag(kind_of, receivers, args.rate, args.seconds)
    finally:
        receivers.stop()


if __name__ == "__main__":
    main()
