"""Audit rows: who changed what, people, keys and the memory service alike.

Memory reads and writes during RAG calls share the usage row's request_id; key creations
and revocations and new users follow the accounts the demo made; the rest is a weighted mix
of memory, document, key, user, role, organisation, rate-limit, allow-list, billing and
config changes, a few of them refused. The memory service reports its own events (its
ingest key); the console the rest.
"""

import bisect
from datetime import timedelta


from demo.builder import KindMaker, generates
from demo.common import (
    COMPANIES, FIRST_NAMES, GROUP_RPM, GROUPS, LAST_NAMES, MEMORY_SERVICE, OFFICE_NETS,
    SERVICE_UA, cum, dt, hexid, req_id,
)
from demo.factories import build_row


@generates("audit", count=2_000, after=("usage",), extra_share=0.01)
def generate(builder):
    return AuditMaker(builder).build()


class AuditMaker(KindMaker):
    def __init__(self, builder):
        super().__init__(builder)
        self.memories = {}
        self.documents = {}

    def actor_user(self, row_kwargs, person):
        row_kwargs.update(actor_type="user", actor_id=str(person.user.pk),
                          actor_name=person.user.username, ip=person.office_ip,
                          user_agent=person.browser_ua)

    def audit_row(self, ts, action, person=None, key=None, **kw):
        rng = self.rng
        if ts >= self.clock.t_end:  # nothing in the future
            return None
        values = dict(occurred_at=dt(ts), action=action, category=action.split(".")[0],
                      request_id=kw.pop("request_id", None) or req_id(rng))
        if key is not None:
            values.update(actor_type="api_key", actor_id=key.sid, actor_name=key.key.name,
                          ip=key.ips[0], user_agent=key.ua,
                          metadata={"app": key.app, "env": key.env})
        elif person is not None:
            self.actor_user(values, person)
        else:
            values.update(actor_type="service", actor_id="svc-memory-extractor",
                          actor_name="memory-extractor", ip="10.20.0.14", user_agent=SERVICE_UA,
                          ingested_by=MEMORY_SERVICE[0], ingested_by_name=MEMORY_SERVICE[1])
        values["ingested_at"] = values["occurred_at"] + timedelta(milliseconds=rng.randint(5, 800))
        values.update(kw)
        row = build_row("audit", **values)
        self.rows.append(row)
        return row

    def memory_of(self, person):
        pool = self.memories.get(person.user.pk)
        if pool is None:
            topics = ["Preference: answers in formal English", "Project: Q3 pricing launch",
                      "Customer: renewal terms for Globex", "Preference: code samples in Go",
                      "Team: on-call rota", "Fact: office moved to Building C",
                      "Project: migrate search to pgvector", "Preference: metric units"]
            pool = [(hexid(self.rng, "mem_"), t) for t in self.rng.sample(topics, 4)]
            self.memories[person.user.pk] = pool
        return self.rng.choice(pool)

    def document_of(self, person):
        pool = self.documents.get(person.user.pk)
        if pool is None:
            names = ["Q3-pricing.pdf", "onboarding-handbook.docx", "api-reference.md",
                     "security-whitepaper.pdf", "sla-2025.pdf", "faq.html", "release-notes.md",
                     "contract-template.docx", "support-macros.csv"]
            pool = [(hexid(self.rng, "doc_"), n) for n in self.rng.sample(names, 4)]
            self.documents[person.user.pk] = pool
        return self.rng.choice(pool)

    def build(self):
        rng = self.rng
        target = self.counts["audit"]
        # 1. Memory reads and writes during RAG queries share the usage row's request_id.
        for rec in self.builder.rows["usage"]:
            if rec.endpoint != "rag.query" or rng.random() > 0.3:
                continue
            key = self.builder.keys_by_sid[rec.api_key_id]
            ts = rec.occurred_at.timestamp() + 0.05
            mem_id, mem_name = self.memory_of(key.person)
            failed = rec.status == "error" and rng.random() < 0.3
            self.audit_row(ts, "memory.search", key=key, request_id=rec.request_id,
                           resource_type="memory", resource_id=mem_id, resource_name=mem_name,
                           result="failure" if failed else "success",
                           reason="vector index unavailable" if failed else "",
                           details={"top_k": rng.choice([4, 8, 16]), "hits": rng.randint(0, 16),
                                    "via": "rag.query"})
            if rec.status == "success" and rng.random() < 0.35:
                self.audit_row(ts + rec.latency_ms / 1000, "memory.write", key=key,
                               request_id=rec.request_id, resource_type="memory",
                               resource_id=mem_id, resource_name=mem_name,
                               details={"bytes": rng.randint(200, 4000), "via": "rag.query"})
            if len(self.rows) >= target * 0.2:
                break
        # 2. Key lifecycle: creations and revocations inside the window.
        t0 = self.clock.t0
        for info in self.keys:
            key, person = info.key, info.person
            if key.created_at.timestamp() >= t0:
                self.audit_row(key.created_at.timestamp(), "api_key.created", person=person,
                               resource_type="api_key", resource_id=info.sid,
                               resource_name=key.name,
                               details={"prefix": key.prefix, "scopes": key.scopes,
                                        "group": key.group})
            if info.revoked_at and info.revoked_at >= t0:
                self.audit_row(info.revoked_at, "api_key.updated", person=person,
                               resource_type="api_key", resource_id=info.sid,
                               resource_name=key.name,
                               changes={"status": {"before": "active", "after": "revoked"}})
        # 3. Recently joined users were added (or registered, see auth).
        admin = self.by_username["admin"]
        for person in self.people:
            joined = person.user.date_joined.timestamp()
            if joined >= t0 and rng.random() < 0.5:
                self.audit_row(joined, "user.added", person=admin, resource_type="user",
                               resource_id=str(person.user.pk), resource_name=person.user.email,
                               details={"role": "member", "invited_by": admin.user.username,
                                        "group": person.group})
        # 4. Everything else, weighted.
        while len(self.rows) < target:
            self.random_audit()
        return self.rows

    AUDIT_MIX = [
        ("memory.read", 16), ("memory.search", 12), ("memory.write", 9), ("memory.extract", 6),
        ("document.read", 10), ("document.write", 6), ("api_key.created", 2),
        ("api_key.updated", 2), ("api_key.deleted", 1), ("user.added", 1),
        ("user.updated", 2.5), ("user.deleted", 0.4), ("user.role_changed", 1),
        ("role.assignment.created", 1), ("organization.updated", 0.6),
        ("rate_limit.updated", 1), ("ip_allowlist.created", 0.6), ("billing.topup", 2.5),
        ("config.updated", 1.5),
    ]
    FAILURES = {
        "memory": ["memory quota exceeded (10,000 items)", "vector index unavailable"],
        "document": ["document too large (54 MB > 50 MB)", "unsupported file type: .pages"],
        "api_key": ["permission denied: only the owner or an administrator may change a key",
                    "key limit reached (10 per user)"],
        "user": ["permission denied: requires role Administrator",
                 "a user with this email already exists"],
        "role": ["permission denied: requires role Administrator"],
        "organization": ["validation error: billing_email is not a valid address"],
        "rate_limit": ["validation error: rpm_limit must be at most 10000"],
        "ip_allowlist": ["validation error: 10.0.0.0/33 is not a valid network"],
        "billing": ["payment declined by card issuer", "payment provider timeout"],
        "config": ["validation error: retention.usage_days must be between 7 and 3650"],
    }

    def random_audit(self):
        rng = self.rng
        if not hasattr(self, "_audit_cum"):
            self._audit_cum = cum([w for _, w in self.AUDIT_MIX])
            self._members = [p for p in self.people if not p.user.is_staff and p.keys]
        action = self.AUDIT_MIX[bisect.bisect(self._audit_cum,
                                              rng.random() * self._audit_cum[-1])][0]
        person = rng.choice(self._members)
        ts = self.clock.sample(rng, person.tz)
        admin = self.by_username["admin"]
        category = action.split(".")[0]
        kw = {}
        actor = {"person": person}
        if category == "memory":
            mem_id, mem_name = self.memory_of(person)
            kw = dict(resource_type="memory", resource_id=mem_id, resource_name=mem_name)
            if action == "memory.extract":
                actor = {}  # the background extractor service
                kw["details"] = {"conversation": hexid(rng, "conv_"),
                                 "extracted": rng.randint(0, 6), "model": "gpt-4o-mini"}
            else:
                actor = {"key": rng.choice([k for k in self.keys if k.person is person])} \
                    if rng.random() < 0.7 else actor
                if action == "memory.search":
                    kw["details"] = {"top_k": 8, "hits": rng.randint(0, 8)}
                elif action == "memory.write":
                    kw["details"] = {"bytes": rng.randint(120, 4000)}
                    if rng.random() < 0.3:
                        kw["changes"] = {"importance": {"before": "low", "after": "high"}}
        elif category == "document":
            doc_id, doc_name = self.document_of(person)
            kw = dict(resource_type="document", resource_id=doc_id, resource_name=doc_name)
            if action == "document.write":
                ext = doc_name.rsplit(".", 1)[-1]
                kw["details"] = {"size_bytes": rng.randint(8_000, 9_000_000),
                                 "mime_type": {"pdf": "application/pdf", "md": "text/markdown",
                                               "html": "text/html", "csv": "text/csv"}.get(
                                     ext, "application/vnd.openxmlformats-officedocument"),
                                 "chunks": rng.randint(3, 400)}
        elif category == "api_key":
            info = rng.choice([k for k in self.keys if k.person is person])
            kw = dict(resource_type="api_key", resource_id=info.sid, resource_name=info.key.name)
            if action == "api_key.updated":
                kw["changes"] = rng.choice([
                    {"name": {"before": "test", "after": info.key.name}},
                    {"scopes": {"before": ["read"], "after": ["ingest", "read"]}},
                    {"group": {"before": "default", "after": person.group}},
                ])
            elif action == "api_key.deleted":
                kw["resource_id"] = str(100_000 + rng.randrange(900_000))
                kw["resource_name"] = rng.choice(["old-laptop", "hackathon", "tmp-test"])
            else:
                kw["details"] = {"prefix": info.key.prefix, "scopes": info.key.scopes}
            if rng.random() < 0.2:
                actor = {"person": admin}
        elif category == "user":
            kw = dict(resource_type="user", resource_id=str(person.user.pk),
                      resource_name=person.user.email)
            actor = {"person": admin}
            if action == "user.updated":
                change = rng.choice([
                    {"display_name": {"before": person.user.username,
                                      "after": person.user.display_name}},
                    {"timezone": {"before": "UTC", "after": person.tz}},
                    {"email": {"before": person.user.email.replace("@", ".old@"),
                               "after": person.user.email}},
                ])
                kw["changes"] = change
                actor = {"person": person if "timezone" in change or rng.random() < 0.5
                         else self.by_username["support"]}
            elif action == "user.role_changed":
                before, after = rng.sample(["member", "finance", "support", "auditor"], 2)
                kw["changes"] = {"role": {"before": before, "after": after}}
            elif action == "user.added":
                first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
                kw.update(resource_id=str(9000 + rng.randrange(1000)),
                          resource_name=f"{first}.{last}@contractor.example.com",
                          details={"role": "member", "invited_by": "admin"})
            elif action == "user.deleted":
                kw.update(resource_id=str(8000 + rng.randrange(1000)),
                          resource_name=f"{rng.choice(FIRST_NAMES)}@former.example.com",
                          details={"reason": "offboarding", "api_keys_revoked": rng.randint(0, 3)})
        elif category == "role":
            role = rng.choice(["auditor", "support", "finance", "member"])
            kw = dict(resource_type="role_assignment", resource_id=f"ra_{person.user.pk}_{role}",
                      resource_name=f"{person.user.username} → {role}",
                      details={"role": role, "user_id": str(person.user.pk)})
            actor = {"person": admin}
        elif category == "organization":
            slug = person.company
            name = dict(COMPANIES).get(slug, slug.title())
            kw = dict(resource_type="organization", resource_id=f"org_{slug}", resource_name=name,
                      changes=rng.choice([
                          {"billing_email": {"before": f"billing@{slug}.example.com",
                                             "after": f"finance@{slug}.example.com"}},
                          {"seats": {"before": 25, "after": 40}},
                          {"default_group": {"before": "default", "after": "vip"}},
                      ]))
            actor = {"person": admin}
        elif category == "rate_limit":
            group = rng.choice(GROUPS)
            before = GROUP_RPM[group]
            after = rng.choice([before // 2, before * 2])
            kw = dict(resource_type="rate_limit", resource_id=f"group:{group}",
                      resource_name=f"{group} requests per minute",
                      changes={"rpm_limit": {"before": before, "after": after}})
            actor = {"person": rng.choice([admin, self.by_username["finance"]])}
        elif category == "ip_allowlist":
            cidr = f"{rng.choice(OFFICE_NETS)}0/24"
            kw = dict(resource_type="ip_allowlist", resource_id=hexid(rng, "ipal_", 32),
                      resource_name=cidr, details={"cidr": cidr, "note": "office network"})
            actor = {"person": admin}
        elif category == "billing":
            amount = rng.choice([20, 50, 100, 200, 500, 1000])
            balance = rng.randint(0, 400)
            kw = dict(resource_type="account", resource_id=str(person.user.pk),
                      resource_name=person.user.email,
                      changes={"balance": {"before": f"{balance}.00",
                                           "after": f"{balance + amount}.00"}},
                      details={"amount": f"{amount}.00", "currency": "USD",
                               "payment_method": rng.choice(["card", "invoice", "wire"]),
                               "invoice": f"INV-{rng.randrange(10**6):06d}"})
            if rng.random() < 0.4:
                actor = {"person": self.by_username["finance"]}
        elif category == "config":
            setting, before, after = rng.choice([
                ("retention.usage_days", 90, 180), ("retention.audit_days", 365, 730),
                ("exports.max_rows", 100_000, 500_000), ("ingestion.max_batch", 500, 1000),
                ("upstream.timeout_seconds", 60, 90), ("auth.lockout_threshold", 5, 10),
            ])
            kw = dict(resource_type="config", resource_id=setting, resource_name=setting,
                      changes={setting: {"before": before, "after": after}})
            actor = {"person": admin}

        if rng.random() < 0.05:
            kw["result"] = "failure"
            kw["reason"] = rng.choice(self.FAILURES.get(category, ["internal error"]))
            kw.pop("changes", None)
        self.audit_row(ts, action, **actor, **kw)
