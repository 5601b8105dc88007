"""Ingestion throughput: batches of 1000 usage events into PostgreSQL, all indexes in place.

    .venv/bin/python bench/ingest.py [--batches 30] [--batch-size 1000] [--cases service …]

Cases: through the service (logcenter.ingest.ingestion.ingest) and over HTTP
(POST /api/v1/ingest/ to gunicorn with 2 workers, 2 client threads), then the fold of the
rollup inbox those batches filled (the Celery beat job's work), a plain COPY of the
same kind of batches straight into the table (the floor the indexes set), and that COPY into
a scratch copy of the newest partition with 0, 2, 6, 12, every B-tree and all of its indexes
(what each costs; the difference of the last two is the free text search index's). One JSON
line each.
Uses DATABASE_URL, default postgres://postgres@127.0.0.1:5432/logcenter_bench.
"""

import argparse
import http.client
import json
import os
import random
import socket
import subprocess
import sys
import threading
import time
import uuid
from datetime import datetime, timedelta, timezone

from _common import ROOT, report, setup_django, summary, wait_for_port

MODELS = [("gpt-4o", "openai"), ("claude-sonnet-4", "anthropic"), ("gemini-2.5-pro", "google"),
          ("deepseek-chat", "deepseek"), ("qwen-max", "aliyun")]


def _user(number):
    return {"user_id": str(number), "username": f"user{number}"}


def make_batch(rng, size, spread_seconds=86400):
    """`size` usage events of random keys, users and models, each occurring within the last
    `spread_seconds` (a day by default: most of them late, for hours already closed)."""
    now = datetime.now(timezone.utc)
    batch = []
    for _ in range(size):
        model, upstream = rng.choice(MODELS)
        prompt, completion = rng.randint(20, 8000), rng.randint(1, 2000)
        batch.append({
            "kind": "usage", "event_id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
            "occurred_at": (now - timedelta(seconds=rng.randint(0, spread_seconds))).isoformat(),
            "actor_type": "api_key", "actor_id": f"k{rng.randint(1, 500)}",
            # One name per user id, as the gateway reports them (drawn apart, the ids and names
            # made 60,000 (id, name) pairs an hour: the per-user rollup's rows).
            **_user(rng.randint(1, 500)),
            "api_key_id": f"lc_{rng.randint(1, 999):09d}", "api_key_name": "prod-key",
            "group": rng.choice(["default", "vip"]), "endpoint": "chat",
            "platform_model": model, "upstream_model": model + "-2025", "upstream_name": upstream,
            "channel_id": f"ch-{upstream}-1", "protocol": "openai", "billing_mode": "per_token",
            "prompt_tokens": prompt, "completion_tokens": completion,
            "cost": f"{(prompt * 2.5 + completion * 10) / 1e6:.8f}", "quota": prompt + completion,
            "latency_ms": rng.randint(80, 9000), "is_stream": rng.random() < 0.6,
            "status": "success", "ip": f"203.0.113.{rng.randint(1, 254)}",
            "request_id": f"req_{rng.getrandbits(96):024x}", "metadata": {"env": "prod"},
        })
    return batch


def bench_service(batches):
    from django.db import connection

    from logcenter.analytics import rollups
    from logcenter.ingest.ingestion import ingest

    rollups._last_fold_request = float("inf")  # folds are timed on their own (bench_fold)

    timings = []
    started = time.perf_counter()
    for batch in batches:
        t0 = time.perf_counter()
        result = ingest(batch)
        timings.append((time.perf_counter() - t0) * 1000)
        assert result.accepted == len(batch), result.as_dict()["errors"][:3]
    elapsed = time.perf_counter() - started
    events = sum(len(b) for b in batches)
    connection.close()
    report(case="service", db="postgresql", batch_size=len(batches[0]), batches=len(batches),
           events=events, events_per_s=events / elapsed, **summary(timings))


def copy_rows(batch):
    """(column list, rows) of a batch as ingestion validates it, ready for COPY."""
    from django.db import models
    from django.utils import timezone
    from psycopg.types.json import Jsonb

    from logcenter.ingest.ingestion import schema_for
    from logcenter.models import UsageRecord
    from logcenter.core.registry import registry

    schema = schema_for(registry["usage"])
    fields = [f for f in UsageRecord._meta.concrete_fields if f.name != "id"]
    now = timezone.now()
    rows = []
    for item in batch:
        values = schema.clean({k: v for k, v in item.items() if k != "kind"}, now)
        values["ingested_at"] = now
        values["ingested_by"], values["ingested_by_name"] = "bench", "bench"  # provenance
        rows.append([Jsonb(values[f.name]) if isinstance(f, models.JSONField)
                     else values[f.name] for f in fields])
    return ", ".join(f'"{f.column}"' for f in fields), rows


def copy_into(table, columns, rows):
    from django.db import connection

    with connection.cursor() as cursor, cursor.cursor.copy(
            f'COPY "{table}" ({columns}) FROM STDIN') as copy:
        for row in rows:
            copy.write_row(row)


def bench_copy(batches):
    """The floor: the same batches, validated, COPYed straight into the table (no staging,
    no duplicate check, no rollup inbox): what the indexes alone cost."""
    from logcenter.models import UsageRecord

    timings = []
    started = time.perf_counter()
    for batch in batches:
        t0 = time.perf_counter()
        columns, rows = copy_rows(batch)
        copy_into(UsageRecord._meta.db_table, columns, rows)
        timings.append((time.perf_counter() - t0) * 1000)
    elapsed = time.perf_counter() - started
    events = sum(len(b) for b in batches)
    report(case="plain COPY (floor)", batch_size=len(batches[0]), batches=len(batches),
           events=events, events_per_s=events / elapsed, **summary(timings))
    # Those rows bypassed the rollup inbox: rebuild their hours, so that the rollups still
    # equal the raw rows for the stats bench run on this database afterwards.
    from logcenter.analytics.rollups import rollup_rebuild

    times = [datetime.fromisoformat(item["occurred_at"]) for b in batches for item in b]
    rollup_rebuild(min(times), max(times))


def bench_index_floor(batches, steps=(0, 2, 6, 12, "uncarried", "unpaired", "0035", "btree",
                                      None)):
    """What the indexes cost: the same COPY into a scratch copy of the newest usage
    partition holding none, some, every B-tree ("btree": all but the search index) and all
    of its indexes (dropped at the end); "uncarried": every B-tree without the few-valued
    filter columns the filter indexes carry (INCLUDE, migration 0032), as before it;
    "unpaired": every B-tree but the (field, sort key) ones (migrations 0035 and 0036);
    "0035": every B-tree but the one 0036 added (upstream model, cost)."""
    from django.db import connection

    from logcenter.models import UsageRecord

    prepared = [copy_rows(batch) for batch in batches]  # validated beforehand: not timed
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
            "WHERE i.inhparent = %s::regclass ORDER BY c.relname DESC LIMIT 1",
            [UsageRecord._meta.db_table])
        partition = cursor.fetchone()[0]
        # Unique ones (primary key, event_id) first: they are the ones ingestion needs.
        cursor.execute("SELECT pg_get_indexdef(indexrelid) FROM pg_index "
                       "WHERE indrelid = %s::regclass ORDER BY indisunique DESC, indexrelid",
                       [partition])
        definitions = [row[0] for row in cursor.fetchall()]
    for step in steps:
        btrees = [d for d in definitions if " USING gin " not in d]
        chosen = (definitions if step is None else btrees if step == "btree"
                  else [_uncarried(d) for d in btrees] if step == "uncarried"
                  else [d for d in btrees if not _paired(d)] if step == "unpaired"
                  else [d for d in btrees if not _paired(d, {("upstream_model", "cost")})]
                  if step == "0035"
                  else definitions[:step])
        with connection.cursor() as cursor:
            cursor.execute("DROP TABLE IF EXISTS lc_bench_floor")
            cursor.execute(f'CREATE TABLE lc_bench_floor (LIKE "{partition}" INCLUDING DEFAULTS)')
            cursor.execute("ALTER TABLE lc_bench_floor ALTER id ADD GENERATED BY DEFAULT "
                           "AS IDENTITY")
            for n, definition in enumerate(chosen):
                unique = "UNIQUE " if definition.startswith("CREATE UNIQUE") else ""
                on = definition.split(" USING ", 1)[1]
                cursor.execute(f"CREATE {unique}INDEX lc_bench_floor_{n} ON lc_bench_floor "
                               f"USING {on}")
        timings = []
        started = time.perf_counter()
        for columns, rows in prepared:
            t0 = time.perf_counter()
            copy_into("lc_bench_floor", columns, rows)
            timings.append((time.perf_counter() - t0) * 1000)
        elapsed = time.perf_counter() - started
        events = sum(len(rows) for _, rows in prepared)
        without = {"uncarried": "carried columns", "unpaired": "paired sort indexes",
                   "0035": "the upstream model's cost index (0036)"}
        report(case="COPY, indexes", indexes=len(chosen), of=len(definitions),
               **({"without": without[step]} if step in without else {}),
               batch_size=len(prepared[0][1]), batches=len(prepared),
               events=events, rows_per_s=events / elapsed, **summary(timings))
    with connection.cursor() as cursor:
        cursor.execute("DROP TABLE lc_bench_floor")


def _paired(definition, pairs=None):
    """Whether an index is one of the (field, sort key, id, occurred_at) ones (of `pairs`,
    default every one)."""
    from logcenter.engines.postgres.keyset import PAIRED

    return any(f"({field}, {key}, id, occurred_at)" in definition
               for field, key in (PAIRED if pairs is None else pairs))


def _uncarried(definition):
    """An index's definition without the carried filter columns among its INCLUDE ones."""
    from logcenter.models import UsageRecord

    carried = {f'"{name}"' if name == "group" else name
               for index in UsageRecord._meta.indexes for name in index.include
               if name not in ("cost", "total_tokens", "latency_ms")}
    if " INCLUDE (" not in definition:
        return definition
    head, rest = definition.split(" INCLUDE (", 1)
    included, tail = rest.split(")", 1)
    kept = [c for c in included.split(", ") if c not in carried]
    return f"{head} INCLUDE ({', '.join(kept)}){tail}" if kept else head + tail


def bench_fold():
    from logcenter.models import UsageRollupInbox
    from logcenter.analytics.rollups import rollup_fold

    inbox = UsageRollupInbox.objects.count()
    started = time.perf_counter()
    folded = rollup_fold()
    elapsed = time.perf_counter() - started
    report(case="rollup fold", inbox_rows=inbox, folded=folded, seconds=elapsed,
           inbox_rows_per_s=inbox / elapsed if elapsed else 0)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def bench_http(batches, clients=2):
    from accounts.models import ApiKey, User

    owner, _ = User.objects.get_or_create(username="bench-ingest",
                                          defaults={"email": "bench-ingest@example.com"})
    _, secret = ApiKey.generate(owner=owner, name="bench", scopes=["ingest"],
                        kinds=["audit", "auth", "system", "usage"])
    port = free_port()
    server = subprocess.Popen(
        [os.path.join(os.path.dirname(sys.executable), "gunicorn"), "config.wsgi:application",
         "--bind", f"127.0.0.1:{port}", "--workers", "2", "--log-level", "warning"],
        # Without REDIS_URL the servers run their fold requests in-process (counted here);
        # with it they queue them, and the bench_fold after this case does the work.
        cwd=ROOT, env={**os.environ, "DEBUG": "0"},
    )
    try:
        wait_for_port(port, 10)
        bodies = [json.dumps(b).encode() for b in batches]
        headers = {"Authorization": f"Bearer {secret}", "Content-Type": "application/json"}
        # Warm both workers (imports, connections).
        warm = http.client.HTTPConnection("127.0.0.1", port)
        for _ in range(4):
            warm.request("POST", "/api/v1/ingest/", body=b"[]", headers=headers)
            warm.getresponse().read()
        timings, lock = [], threading.Lock()
        queue = list(bodies)

        def client():
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
            while True:
                with lock:
                    if not queue:
                        return
                    body = queue.pop()
                t0 = time.perf_counter()
                conn.request("POST", "/api/v1/ingest/", body=body, headers=headers)
                response = conn.getresponse()
                payload = json.loads(response.read())
                assert response.status == 200 and payload["rejected"] == 0, payload
                with lock:
                    timings.append((time.perf_counter() - t0) * 1000)

        started = time.perf_counter()
        threads = [threading.Thread(target=client) for _ in range(clients)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        elapsed = time.perf_counter() - started
        events = sum(len(b) for b in batches)
        report(case="http", server="gunicorn --workers 2", clients=clients,
               batch_size=len(batches[0]), batches=len(batches), events=events,
               events_per_s=events / elapsed, **summary(timings))
    finally:
        server.terminate()
        server.wait(timeout=10)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", type=int, default=30)
    parser.add_argument("--batch-size", type=int, default=1000)
    parser.add_argument("--cases", nargs="+", default=list(CASES), choices=list(CASES))
    args = parser.parse_args()
    setup_django()
    from logcenter.models import UsageRecord

    rng = random.Random(time.time_ns())  # fresh event ids on every run: no duplicates
    report(case="setup", existing_usage_rows=UsageRecord.objects.count(),
           indexes=len(UsageRecord._meta.indexes) + 2)
    for case in args.cases:
        CASES[case]([make_batch(rng, args.batch_size) for _ in range(args.batches)])
        if case in ("service", "http"):
            bench_fold()


CASES = {"service": bench_service, "http": bench_http, "copy": bench_copy,
         "index-floor": bench_index_floor}


if __name__ == "__main__":
    main()
