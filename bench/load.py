"""Readers and ingestion at once, through gunicorn as production runs it.

    .venv/bin/python bench/query.py load [--rate 20] [--seconds 60] [--ingest 2000]
        [--closed 8] [--workers 4] [--threads 2]

`--ingest 0` times the reads alone, `--rate 0 --closed 0` the ingestion alone.

Starts `gunicorn config.wsgi:application --workers W --threads T` (DEBUG off, as
docs/operations.md documents for production) on the benchmark database, then:

- open loop: requests at a fixed total rate (`--rate` a second, evenly spaced, whatever the
  answers' speed) for `--seconds`, a mix of what the console asks (list pages of each tab
  with a filter and a sort, the API's lists, detail pages, the usage figures and panels,
  buckets by hour), while one client ingests `--ingest` usage events a second through the
  HTTP API in batches of 200, as a gateway reports calls when they end: each occurred
  within the last `--late` seconds (60; `--late 86400` spreads them over the last day, so
  nearly all land in closed hours and every fold changes the figures the caches keep). Each request's time counts from when it was due, so a server
  that falls behind shows it (no coordinated omission);
- closed loop, for the record: `--closed` readers sending the same mix as fast as they can,
  beside the same ingestion.

Prints per phase: read p50/p95/p99 and errors, per request type, the events stored a
second, and how many cores each part of the machine kept busy (`cores_busy`: gunicorn,
the Celery worker, PostgreSQL, this bench's readers and ingesting client). Uses DATABASE_URL (default logcenter_bench) and REDIS_URL if set.
"""

import http.client
import json
import os
import random
import socket
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urlencode

from _common import ROOT, percentile, report, wait_for_port

BATCH = 200


def add_arguments(parser):
    parser.add_argument("--rate", type=float, default=20.0)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--ingest", type=float, default=2000.0)
    parser.add_argument("--closed", type=int, default=8)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--ingest-workers", type=int, default=0,
                        help="0: the readers' gunicorn takes the ingestion too; N: a gunicorn "
                             "of its own (N workers of --threads), as operations.md lays out")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--late", type=float, default=60.0,
                        help="ingested calls occurred up to this many seconds ago")
    parser.add_argument("--naptime", type=float, default=60.0,
                        help="where autovacuum is off, vacuum the rollup inbox this often "
                             "(autovacuum_naptime: PostgreSQL's default 60 s; operations.md "
                             "sets 10 s for an ingesting database)")


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _requests(rng, samples):
    """(type, path) of one request of the mix."""
    auth, audit = samples["auth"], samples["audit"]
    row = rng.choice(samples["usage"])
    choices = [
        ("list usage", "/logs/usage/", {"range": "24h"}),
        ("list usage, filter + sort", "/logs/usage/",
         {"platform_model": row["platform_model"], "ordering": rng.choice(
             ["-cost", "-latency_ms", "-total_tokens"]), "range": "7d"}),
        ("api usage, two filters", "/api/v1/usage-records/",
         {"platform_model": row["platform_model"], "status": row["status"], "range": "30d"}),
        ("api usage, pasted request id", "/api/v1/usage-records/",
         {"q": row["request_id"], "range": "30d"}),
        ("list auth", "/logs/auth/", {"user": rng.choice(auth)["username_attempted"]}),
        ("list audit", "/logs/audit/", {"range": "7d"}),
        ("list system", "/logs/system/", {"level_min": "warning", "range": "24h"}),
        ("detail usage", f"/logs/usage/{row['event_id']}/", {}),
        ("detail audit", f"/logs/audit/{rng.choice(audit)['event_id']}/", {}),
        ("usage stats", "/api/v1/usage/stats/", {"range": "7d"}),
        ("usage panels", "/logs/usage/panels/", {"range": "24h"}),
        ("buckets by api key", "/api/v1/usage/buckets/",
         {"bucket_width": "1h", "group_by": "api_key", "range": "7d"}),
        ("system panels", "/logs/system/panels/", {"range": "24h"}),
    ]
    kind, path, params = rng.choice(choices)
    return kind, path + ("?" + urlencode(params) if params else "")


class Reader:
    """One keep-alive connection per thread."""

    def __init__(self, port, cookie):
        self.port, self.cookie, self.local = port, cookie, threading.local()

    def get(self, path):
        """The answer's status, 599 where no answer came. A kept-alive connection the
        server closed meanwhile (gunicorn closes idle ones after its keep-alive seconds)
        is opened again and the request sent once more, as a browser does."""
        for attempt in (1, 2):
            conn = getattr(self.local, "conn", None)
            reused = conn is not None
            if conn is None:
                conn = self.local.conn = http.client.HTTPConnection("127.0.0.1", self.port,
                                                                    timeout=30)
            try:
                conn.request("GET", path, headers={"Cookie": self.cookie})
                response = conn.getresponse()
                response.read()
                return response.status
            except (OSError, http.client.HTTPException) as error:
                conn.close()
                self.local.conn = None
                stale = isinstance(error, (http.client.RemoteDisconnected,
                                           ConnectionResetError, BrokenPipeError))
                if not (reused and stale) or attempt == 2:
                    return 599
        return 599


def _ingest(port, secret, rate, stop, counts, seed, late):
    """Post batches of BATCH usage events at `rate` events a second until `stop`."""
    sys.path.insert(0, os.path.dirname(__file__))
    from ingest import make_batch

    # New event ids each run (the clock in the seed): a rerun's events would otherwise all be
    # duplicates of the last run's, cheap to refuse, and the "stored" rate 0.
    rng = random.Random(f"{seed}-{time.time_ns()}")
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    headers = {"Authorization": f"Bearer {secret}", "Content-Type": "application/json"}
    interval, due = BATCH / rate, time.perf_counter()
    while not stop.is_set():
        body = json.dumps(make_batch(rng, BATCH, spread_seconds=int(late))).encode()
        try:
            conn.request("POST", "/api/v1/ingest/", body=body, headers=headers)
            response = conn.getresponse()
            text = response.read()
            if response.status == 200:
                counts["stored"] += json.loads(text)["accepted"]
            else:
                counts["errors"] += 1
                counts.setdefault("first_error", f"{response.status}: {text[:300]!r}")
        except Exception as error:  # counted and named: a dead ingest thread would store 0
            counts["errors"] += 1
            counts.setdefault("first_error", repr(error)[:300])
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        due += interval
        time.sleep(max(0.0, due - time.perf_counter()))


def _cpu_seconds():
    """{what: CPU seconds used so far} of the machine's processes, by what they are: the
    web server, the Celery worker, PostgreSQL, this bench (readers and the ingesting
    client) and the rest (a process that ended meanwhile is not counted)."""
    tick = os.sysconf("SC_CLK_TCK")
    used = {}
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                command = f.read().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        what = ("this bench" if int(pid) == os.getpid() else
                "gunicorn" if "gunicorn" in command else "celery" if "celery" in command
                else "postgres" if command.startswith("postgres") else "other")
        used[what] = used.get(what, 0) + (int(fields[11]) + int(fields[12])) / tick
    return used


def _autovacuum_stand_in(stop, naptime):
    """Where the server runs without autovacuum (this project's benchmark machine), do what
    it would do to the rollup inbox, which every stored batch fills and every fold empties:
    vacuum it every `naptime` seconds (autovacuum visits a database once a naptime;
    migration 0033 lets it take the inbox at 10,000 dead rows, which 2,000 events a second
    pass within seconds)."""
    from django.db import connection

    try:
        with connection.cursor() as cursor:
            cursor.execute("SHOW autovacuum")
            if cursor.fetchone()[0] == "on":
                return
            while True:
                cursor.execute("VACUUM logcenter_usagerollupinbox")
                if stop.wait(naptime):
                    return
    finally:
        connection.close()


def _phase(name, port, secret, reader, samples, args, open_loop, ingest_port=None):
    rng = random.Random(args.seed)
    stop, counts = threading.Event(), {"stored": 0, "errors": 0}
    ingestor = threading.Thread(target=_ingest, args=(ingest_port or port, secret, args.ingest,
                                                      stop, counts, args.seed, args.late))
    results, lock = [], threading.Lock()

    def one(kind, path, due):
        status = reader.get(path)
        with lock:
            results.append((kind, (time.perf_counter() - due) * 1000, status))

    vacuum = threading.Thread(target=_autovacuum_stand_in, args=(stop, args.naptime))
    vacuum.start()
    cpu_before = _cpu_seconds()
    started = time.perf_counter()
    if args.ingest > 0:  # --ingest 0: the reads alone
        ingestor.start()
    end = started + args.seconds
    if open_loop and args.rate <= 0:  # --rate 0: the ingestion alone
        time.sleep(args.seconds)
    elif open_loop:
        with ThreadPoolExecutor(max_workers=64) as pool:
            n = 0
            while True:
                due = started + n / args.rate
                if due >= end:
                    break
                time.sleep(max(0.0, due - time.perf_counter()))
                kind, path = _requests(rng, samples)
                pool.submit(one, kind, path, due)
                n += 1
    else:
        def loop(seed):
            local = random.Random(seed)
            while time.perf_counter() < end:
                kind, path = _requests(local, samples)
                one(kind, path, time.perf_counter())

        threads = [threading.Thread(target=loop, args=(args.seed + i,))
                   for i in range(args.closed)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    stop.set()
    if ingestor.is_alive():
        ingestor.join()
    vacuum.join()
    elapsed = time.perf_counter() - started
    cpu = {what: round((seconds - cpu_before.get(what, 0)) / elapsed, 2)
           for what, seconds in _cpu_seconds().items()}
    timings = [ms for _, ms, _ in results]
    by_type = {}
    for kind, ms, _ in results:
        by_type.setdefault(kind, []).append(ms)
    report(case=name, reads=len(results), reads_per_s=len(results) / elapsed,
           p50_ms=percentile(timings, 50) if timings else None,
           p95_ms=percentile(timings, 95) if timings else None,
           p99_ms=percentile(timings, 99) if timings else None,
           errors=sum(1 for _, _, status in results if status != 200),
           error_statuses=sorted({f"{kind}: {status}" for kind, _, status in results
                                  if status != 200}),
           events_stored=counts["stored"], events_per_s=counts["stored"] / elapsed,
           ingest_errors=counts["errors"], first_ingest_error=counts.get("first_error"),
           cores_busy=cpu,
           by_type={k: {"n": len(v), "p50_ms": round(percentile(v, 50), 1),
                        "p95_ms": round(percentile(v, 95), 1)} for k, v in sorted(by_type.items())})


def run(args):
    from django.contrib.auth import get_user_model
    from importlib import import_module

    from django.conf import settings

    from accounts.models import ApiKey
    from logcenter.core.registry import registry

    User = get_user_model()
    user, _ = User.objects.get_or_create(username="bench-load", defaults={
        "email": "bench-load@example.com", "is_superuser": True, "is_staff": True})
    secret_key = os.environ.get("SECRET_KEY", "bench-load-" + "x" * 50)
    from django.test.utils import override_settings

    with override_settings(SECRET_KEY=secret_key):  # the server's key signs the session
        session = import_module(settings.SESSION_ENGINE).SessionStore()
        session["_auth_user_id"] = str(user.pk)
        session["_auth_user_backend"] = "django.contrib.auth.backends.ModelBackend"
        session["_auth_user_hash"] = user.get_session_auth_hash()
        session.create()
    _, secret = ApiKey.generate(owner=user, name="bench-load", scopes=["ingest"],
                                kinds=["usage"])
    samples = {}
    for kind in registry:
        if kind.slug not in ("usage", "audit", "auth", "system"):
            continue
        newest = kind.model.objects.order_by("-id").values_list("id", flat=True).first() or 0
        fields = {"usage": ("event_id", "platform_model", "status", "request_id"),
                  "auth": ("event_id", "username_attempted"), "audit": ("event_id",),
                  "system": ("event_id",)}[kind.slug]
        samples[kind.slug] = [
            {k: str(v) for k, v in zip(fields, values)} for values in
            kind.model.objects.filter(id__gt=max(0, newest - 50_000))
            .values_list(*fields)[:300]]
    port = _free_port()
    env = {**os.environ, "DEBUG": "0",
           "SECRET_KEY": secret_key,
           "REDIS_URL": os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/9"),
           "ALLOWED_HOSTS": "127.0.0.1,localhost"}
    bin_dir = os.path.dirname(sys.executable)

    def gunicorn(bind_port, workers):
        return subprocess.Popen(
            [os.path.join(bin_dir, "gunicorn"), "config.wsgi:application",
             "--bind", f"127.0.0.1:{bind_port}", "--workers", str(workers),
             "--threads", str(args.threads), "--log-level", "warning"], cwd=ROOT, env=env)

    servers = [gunicorn(port, args.workers)]
    ingest_port = None
    if args.ingest_workers:  # the ingestion service apart: no reader waits on a batch's GIL
        ingest_port = _free_port()
        servers.append(gunicorn(ingest_port, args.ingest_workers))
    # As production runs: a worker folds the ingested sums into the rollups.
    worker = subprocess.Popen(
        [os.path.join(bin_dir, "celery"), "-A", "config", "worker", "--concurrency", "1",
         "--loglevel", "warning", "--without-heartbeat", "--without-mingle"],
        cwd=ROOT, env=env)
    try:
        for bound in (port, ingest_port or port):
            wait_for_port(bound, 20)
        reader = Reader(port, f"sessionid={session.session_key}")
        rng = random.Random(0)
        for _ in range(40):  # warm both workers
            reader.get(_requests(rng, samples)[1])
        report(case="server", command=f"gunicorn --workers {args.workers} "
                                      f"--threads {args.threads}", port=port,
               ingestion=(f"gunicorn --workers {args.ingest_workers} --threads {args.threads}"
                          if ingest_port else "the same server"))
        _phase("open loop", port, secret, reader, samples, args, open_loop=True,
               ingest_port=ingest_port)
        if args.closed:
            _phase(f"closed loop, {args.closed} readers", port, secret, reader, samples, args,
                   open_loop=False, ingest_port=ingest_port)
    finally:
        for process in (*servers, worker):
            process.terminate()
        for process in (*servers, worker):
            process.wait(timeout=30)
