"""System rows: what the platform's workers report.

Nightly retention purges; upstream timeouts of real usage calls (the same request_id), the
outage's circuit breaker and the runaway key's rate limit (the usage kind's stories);
documents written in the audit log processed and vectorized; exports, ingestion batches,
task retries and failures, latency alerts and heartbeats. The gateway reports the upstream
events (its ingest key); the console the rest.
"""

import bisect
import uuid
from datetime import timedelta


from demo.builder import KindMaker, generates
from demo.common import DAYS, GATEWAY, GROUP_RPM, SERVICE_UA, cum, dt, hash_int, hexid
from demo.factories import build_row


@generates("system", count=800, after=("usage", "audit"), extra_share=0.005)
def generate(builder):
    return SystemMaker(builder).build()


class SystemMaker(KindMaker):
    def sys_row(self, ts, source, event, level, message, resource_type="", resource_id="",
                details=None, request_id="", actor=None):
        rng = self.rng
        if ts >= self.clock.t_end:
            return None
        values = dict(occurred_at=dt(ts), source=source, event=event, level=level,
                      message=message, resource_type=resource_type, resource_id=resource_id,
                      details=details or {}, request_id=request_id, actor_type="system",
                      actor_id=f"worker-{source}", actor_name=f"{source} worker",
                      ip="10.20.0." + str(10 + hash_int(source) % 40), user_agent=SERVICE_UA)
        if actor is not None:
            values.update(actor_type=actor[0], actor_id=actor[1], actor_name=actor[2])
        if source == "upstream":  # the gateway reports its upstreams (its ingest key)
            values.update(ingested_by=GATEWAY[0], ingested_by_name=GATEWAY[1])
        values["ingested_at"] = values["occurred_at"] + timedelta(milliseconds=rng.randint(2, 300))
        row = build_row("system", **values)
        self.rows.append(row)
        return row

    def build(self):
        rng = self.rng
        clock = self.clock
        target = self.counts["system"]
        now_day = self.now.replace(hour=3, minute=0, second=0, microsecond=0)
        # Retention: a nightly purge per kind.
        for d in range(1, DAYS):
            day = now_day - timedelta(days=d)
            for n, (kind, keep) in enumerate((("usage", 90), ("audit", 730), ("auth", 180),
                                              ("system", 30))):
                ts = day.timestamp() + n * 40 + rng.uniform(0, 30)
                deleted = rng.randint(800, 6000) if kind == "usage" else rng.randint(0, 900)
                self.sys_row(ts, "retention", "retention.purged", "info",
                             f"Purged {deleted} {kind} rows older than {keep} days",
                             "retention_policy", kind,
                             {"kind": kind, "deleted": deleted, "keep_days": keep,
                              "cutoff": (day - timedelta(days=keep)).isoformat(),
                              "batches": deleted // 1000 + 1,
                              "duration_ms": rng.randint(40, 2500)})
        # Upstream: timeouts of real usage rows share their request_id. The gateway retried
        # once and gave up, so the call failed: an error.
        timeouts = [r for r in self.builder.rows["usage"] if r.error_code == "upstream_timeout"]
        budget = int(target * 0.05)
        if len(timeouts) > budget:
            timeouts = rng.sample(timeouts, budget)
        for rec in timeouts:
            self.sys_row(rec.occurred_at.timestamp() + 60.0, "upstream", "upstream.timeout",
                         "error",
                         f"{rec.upstream_name} did not answer {rec.upstream_model} within 60s; "
                         f"giving up after 2 attempts",
                         "channel", rec.channel_id,
                         {"upstream": rec.upstream_name, "model": rec.upstream_model,
                          "timeout_s": 60, "attempts": 2, "retried": True, "gave_up": True},
                         request_id=rec.request_id)
        self._ok_usage = [r for r in self.builder.rows["usage"] if r.status == "success" and
                          r.endpoint in ("chat", "rag.query")]
        # The outage: circuit opens, probes fail, circuit closes.
        out = self.builder.stories["outage"]
        self.sys_row(out.start + 240, "upstream", "upstream.circuit_open", "critical",
                     "Circuit opened for ch-anthropic-1 after 20 failures in 60s",
                     "channel", "ch-anthropic-1",
                     {"upstream": "anthropic", "failures": 20, "window_s": 60,
                      "fallback": "ch-bedrock-1"})
        for k in range(1, 8):
            self.sys_row(out.start + 240 + k * 300, "upstream", "upstream.health_check_failed",
                         "error", "Health probe to api.anthropic.com failed: HTTP 529 overloaded",
                         "channel", "ch-anthropic-1", {"status": 529, "probe": k})
        self.sys_row(out.end + 30, "upstream", "upstream.recovered", "info",
                     "Circuit closed for ch-anthropic-1: 5 consecutive probes succeeded",
                     "channel", "ch-anthropic-1",
                     {"upstream": "anthropic", "open_for_s": int(out.end + 30 - out.start - 240)})
        runaway_key, runaway_ts = self.builder.stories["runaway"]
        self.sys_row(runaway_ts + 60, "upstream", "upstream.rate_limited", "warning",
                     f"Group {runaway_key.person.group} hit its rate limit for key "
                     f"{runaway_key.key.name}", "api_key", runaway_key.sid,
                     {"rpm_limit": GROUP_RPM[runaway_key.person.group], "rejected_in_window": 240})
        # Documents written in the audit log are processed and vectorized.
        docs = [r for r in self.builder.rows["audit"]
                if r.action == "document.write" and r.result == "success"]
        for row in docs[: int(target * 0.12)]:
            ts = row.occurred_at.timestamp() + rng.uniform(2, 30)
            if rng.random() < 0.1:
                self.sys_row(ts, "file_processing", "file.parse_failed", "warning",
                             f"Could not extract text from {row.resource_name}: "
                             + rng.choice(["encrypted PDF", "corrupt zip container",
                                           "no text layer (scanned image)"]),
                             "document", row.resource_id, {"name": row.resource_name},
                             request_id=row.request_id)
                continue
            pages = rng.randint(1, 120)
            self.sys_row(ts, "file_processing", "file.processed", "info",
                         f"Processed {row.resource_name}: {pages} pages",
                         "document", row.resource_id,
                         {"name": row.resource_name, "pages": pages,
                          "chunks": row.details.get("chunks", 10),
                          "duration_ms": rng.randint(300, 40_000)},
                         request_id=row.request_id)
            ts += rng.uniform(3, 60)
            if rng.random() < 0.08:
                self.sys_row(ts, "vectorizer", "vectorize.failed", "error",
                             f"Embedding {row.resource_name} failed: upstream rate limited",
                             "document", row.resource_id,
                             {"model": "text-embedding-3-small", "chunks_done": rng.randint(0, 9),
                              "error": "rate_limited"}, request_id=row.request_id)
            else:
                self.sys_row(ts, "vectorizer", "vectorize.completed", "info",
                             f"Vectorized {row.details.get('chunks', 10)} chunks of "
                             f"{row.resource_name}", "document", row.resource_id,
                             {"model": "text-embedding-3-small",
                              "chunks": row.details.get("chunks", 10), "dims": 1536},
                             request_id=row.request_id)
        # Everything else.
        staff = [p for p in self.people if p.user.is_staff]
        mix = [("exports", 14), ("ingestion", 18), ("async_tasks", 10), ("upstream", 9),
               ("vectorizer", 4), ("debug", 12)]
        totals = cum([w for _, w in mix])
        while len(self.rows) < target:
            what = mix[bisect.bisect(totals, rng.random() * totals[-1])][0]
            ts = clock.sample(rng, "UTC")
            if what == "exports":
                person = rng.choice(staff)
                kind = rng.choice(["usage", "audit", "auth", "system"])
                fmt = rng.choice(["csv", "csv", "jsonl"])
                export_id = hexid(rng, "exp_")
                actor = ("user", str(person.user.pk), person.user.email)
                rows = rng.randint(50, 250_000)
                self.sys_row(ts, "exports", "export.started", "debug",
                             f"Export {export_id} of {kind} logs started", "export", export_id,
                             {"kind": kind, "format": fmt}, actor=actor)
                ts += rng.uniform(1, 120)
                if rng.random() < 0.08:
                    self.sys_row(ts, "exports", "export.failed", "error",
                                 f"Export {export_id} failed: "
                                 + rng.choice(["statement timeout after 300s",
                                               "disk quota exceeded on export volume"]),
                                 "export", export_id, {"kind": kind, "format": fmt,
                                                       "rows_written": rows // 3}, actor=actor)
                else:
                    self.sys_row(ts, "exports", "export.completed", "info",
                                 f"Export {export_id} finished: {rows} {kind} rows",
                                 "export", export_id,
                                 {"kind": kind, "format": fmt, "rows": rows,
                                  "bytes": rows * rng.randint(180, 420),
                                  "duration_ms": rng.randint(800, 120_000)}, actor=actor)
            elif what == "ingestion":
                batch = hexid(rng, "batch_")
                r = rng.random()
                if r < 0.7:
                    n = rng.randint(50, 1000)
                    self.sys_row(ts, "ingestion", "ingestion.batch_accepted", "debug",
                                 f"Accepted batch {batch}: {n} events", "batch", batch,
                                 {"events": n, "duplicates": rng.randint(0, 3)})
                elif r < 0.92:
                    self.sys_row(ts, "ingestion", "ingestion.batch_rejected", "warning",
                                 f"Rejected batch {batch}: "
                                 + rng.choice(["metadata key 'user-id' has invalid characters",
                                               "occurred_at is more than 24h in the future",
                                               "batch exceeds 1000 events"]),
                                 "batch", batch, {"events": rng.randint(1, 1500)})
                else:
                    lag = rng.randint(30, 600)
                    self.sys_row(ts, "ingestion", "ingestion.lag_high", "warning",
                                 f"Ingestion lag is {lag}s (threshold 30s)", "queue", "ingest",
                                 {"lag_s": lag, "queue_depth": rng.randint(1000, 90_000)})
            elif what == "async_tasks":
                task_id = str(uuid.UUID(int=rng.getrandbits(128), version=4))
                task = rng.choice(["logcenter.tasks.export_logs", "logcenter.tasks.purge_kind",
                                   "logcenter.tasks.seal_audit_chain",
                                   "logcenter.tasks.rollup_usage", "documents.tasks.vectorize"])
                exc = rng.choice(["OperationalError: could not serialize access",
                                  "TimeoutError: redis read timed out",
                                  "ConnectionResetError: [Errno 104]"])
                if rng.random() < 0.7:
                    attempt = rng.randint(1, 4)
                    self.sys_row(ts, "async_tasks", "task.retry", "warning",
                                 f"{task} retry {attempt}/5 in {2 ** attempt * 10}s: {exc}",
                                 "task", task_id,
                                 {"task": task, "attempt": attempt, "max_retries": 5,
                                  "exception": exc})
                else:
                    level = "critical" if "seal_audit" in task else "error"
                    self.sys_row(ts, "async_tasks", "task.failed", level,
                                 f"{task} failed after 5 retries: {exc}", "task", task_id,
                                 {"task": task, "attempts": 5, "exception": exc})
            elif what == "upstream" and rng.random() < 0.5:
                channel = rng.choice(["ch-openai-1", "ch-google-1", "ch-deepseek-1",
                                      "ch-aliyun-1"])
                p95 = rng.randint(8000, 30_000)
                self.sys_row(ts, "upstream", "upstream.latency_high", "warning",
                             f"p95 latency on {channel} is {p95} ms (threshold 8000 ms)",
                             "channel", channel, {"p95_ms": p95, "window_s": 300})
            elif what == "upstream":
                # A first attempt timed out, the retry on another channel succeeded.
                rec = rng.choice(self._ok_usage)
                self.sys_row(rec.occurred_at.timestamp() + 0.5, "upstream", "upstream.timeout",
                             "warning",
                             f"{rec.upstream_name} timed out on attempt 1 for "
                             f"{rec.upstream_model}; retried", "channel", rec.channel_id,
                             {"upstream": rec.upstream_name, "model": rec.upstream_model,
                              "timeout_s": 60, "attempts": 2, "retried": True,
                              "gave_up": False}, request_id=rec.request_id)
            elif what == "vectorizer":
                n = rng.randint(10, 5000)
                self.sys_row(ts, "vectorizer", "vectorize.reindexed", "info",
                             f"Re-embedded {n} memories after model change", "index", "memories",
                             {"items": n, "model": "text-embedding-3-small"})
            else:
                self.sys_row(ts, "async_tasks", "worker.heartbeat", "debug",
                             "Worker heartbeat", "worker", f"celery@worker-{rng.randint(1, 4)}",
                             {"active": rng.randint(0, 8), "reserved": rng.randint(0, 4)})
        del self.rows[target:]
        return self.rows
