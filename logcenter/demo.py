"""Demo data for the console: users, API keys and 30 days of all four log kinds.

Used by `manage.py seed_demo`. Everything is drawn from one `random.Random(SEED)`, and every
row's event_id is a uuid5 of DEMO_NAMESPACE and "<kind>:<n>", so a second run inserts nothing
new (rows are written with bulk_create(ignore_conflicts=True), and a run that finds the demo
rows already present skips generating them). Times are relative to the moment of the run.

`add_usage()` appends extra usage rows for benchmarks: PostgreSQL COPY in chunks, or
bulk_create on other databases. Those rows use random event ids and are not idempotent.

No secret is ever written to a log row: no password, raw API key or session key. Sessions are
correlated by a SHA-256 of a random value, API keys by their primary key and name.
"""

import bisect
import hashlib
import json
import random
import threading
import time
import uuid
import zoneinfo
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from importlib import import_module

from django.contrib.auth.hashers import make_password
from django.contrib.auth.models import Group
from django.db import connection, transaction
from django.utils import timezone

from accounts.models import ApiKey, User
from accounts.signals import suppress_admin_audit
from logcenter.engines.postgres.partitions import (bulk_load_swap, bulk_load_tables, ensure_usage_partitions,
                                  is_partitioned, reserve_ids)
from logcenter.analytics.rollups import rollup_rebuild
from logcenter.core.registry import registry
from logcenter.models import CONSOLE, USAGE_ROLLUPS, AuditEvent, AuthEvent, SystemEvent, UsageRecord

SEED = 20250601
DEMO_NAMESPACE = uuid.UUID("6f1c2a4e-9d3b-5e7a-8c1f-0b2d4e6f8a90")
DAYS = 30
EXTRA_DAYS = 90

# (username, password, what the role may do). Printed by `seed_demo` and the README.
DEMO_LOGINS = [
    ("admin", "admin", "Administrator: superuser, sees and manages everything"),
    ("auditor", "auditor-demo-123", "Auditor: audit, authentication and system logs; may export"),
    ("support", "support-demo-123", "Support: authentication and system logs, usage without cost"),
    ("finance", "finance-demo-123", "Finance: usage and stats; may export"),
    ("member", "member-demo-123", "Member: only their own usage and sign-ins"),
]
# The console role (a Django group, see accounts.roles) each demo login gets, when the group
# exists. The generated users get the default role. A user who already holds any role keeps it.
ROLE_GROUPS = {"admin": "Administrator", "auditor": "Auditor", "support": "Support",
               "finance": "Finance", "member": "Member"}
DEMO_USER_PASSWORD = "demo-password-123"  # the 50 generated users (alice.rossi, ...)
DEMO_USER_COUNT = 50

DEFAULT_COUNTS = {"usage": 20_000, "audit": 2_000, "auth": 3_000, "system": 800}
DEFAULT_OTHER_COUNT = 500  # rows of a kind registered beyond the four

TIMEZONES = [
    "UTC", "Europe/Berlin", "America/New_York", "Asia/Shanghai", "Asia/Taipei",
    "Europe/London", "America/Los_Angeles", "Asia/Tokyo",
]
GROUPS = ["default", "vip", "enterprise"]
GROUP_RPM = {"default": 600, "vip": 3000, "enterprise": 10000}

FIRST_NAMES = [
    "alice", "bruno", "chen", "dana", "elena", "farid", "grace", "hiro", "ines", "jonas",
    "kavya", "lucas", "mei", "nadia", "omar", "priya", "quentin", "rosa", "sven", "tariq",
    "uma", "victor", "wen", "ximena", "yusuf", "zoe", "amara", "bjorn", "camila", "dmitri",
]
LAST_NAMES = [
    "chen", "mueller", "garcia", "nakamura", "okafor", "rossi", "schmidt", "wang", "kim",
    "novak", "haddad", "silva", "lindqvist", "patel", "dubois", "tanaka", "lin", "kowalski",
    "moreau", "huang", "fischer", "santos", "ivanova", "berg",
]
COMPANIES = [
    ("acme", "Acme Robotics"), ("globex", "Globex"), ("initech", "Initech"),
    ("umbrella", "Umbrella Health"), ("hooli", "Hooli"), ("stark", "Stark Analytics"),
]

BROWSER_UAS = [
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Safari/537.36 Edg/131.0.0.0",
    "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_6) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/18.1 Safari/605.1.15",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/130.0.0.0 Safari/537.36",
]
SDK_UAS = [
    "OpenAI/Python 1.54.3", "OpenAI/Python 1.58.1", "OpenAI/JS 4.71.1", "AsyncOpenAI/Python 1.54.3",
    "anthropic-python/0.39.0", "anthropic-typescript/0.32.1", "google-genai/1.2.0",
    "langchain-openai/0.2.9 langchain-core/0.3.21", "llama-index/0.12.5 python/3.11",
    "curl/8.5.0", "Go-http-client/2.0", "python-httpx/0.27.2", "litellm/1.52.0",
]
SERVICE_UA = "logcenter-worker/1.4 (celery 5.5)"

# Documentation address ranges (RFC 5737 / RFC 3849): never a real host.
OFFICE_NETS = ["203.0.113.", "198.51.100.", "192.0.2."]
SPRAY_IP = "203.0.113.66"


# --- Platform models ---------------------------------------------------------------------

@dataclass
class Channel:
    channel_id: str
    upstream_name: str
    upstream_model: str
    binding_code: str
    weight: float = 1.0


@dataclass
class Route:
    """A platform model, its prices (USD per 1M tokens, or per call) and its channels."""

    platform_model: str
    endpoint: str  # chat | embedding | rerank
    channels: list
    input_price: float = 0.0
    output_price: float = 0.0
    cached_price: float | None = None  # None: the model has no prompt cache
    call_price: float = 0.0  # per_call billing when set
    protocols: tuple = (("openai", 1.0),)
    ttft_ms: int = 400  # typical time to first token
    ms_per_token: float = 12.0
    weight: float = 1.0
    # Derived below: prices per token in units of 1e-10 USD, and their strings.
    p_in: int = field(init=False, default=0)
    p_out: int = field(init=False, default=0)
    p_cached: int = field(init=False, default=0)
    p_call: int = field(init=False, default=0)

    def __post_init__(self):
        self.p_in = round(self.input_price * 10_000)
        self.p_out = round(self.output_price * 10_000)
        self.p_cached = round((self.cached_price or 0) * 10_000)
        self.p_call = round(self.call_price * 10**10)
        self.s_in, self.s_out, self.s_cached, self.s_call = (
            _price_str(p) for p in (self.p_in, self.p_out, self.p_cached, self.p_call)
        )
        self.billing_mode = "per_call" if self.call_price else "per_token"
        self.has_cache = self.cached_price is not None
        self._channel_cum = _cum([c.weight for c in self.channels])
        self._protocol_names = [p for p, _ in self.protocols]
        self._protocol_cum = _cum([w for _, w in self.protocols])


def _cum(weights):
    total, out = 0.0, []
    for w in weights:
        total += w
        out.append(total)
    return out


def _price_str(units_e10):
    return format(Decimal(units_e10).scaleb(-10).normalize(), "f")


def fmt8(units_e8):
    """An amount held in 1e-8 USD as a decimal string with 8 places."""
    return f"{units_e8 // 100_000_000}.{units_e8 % 100_000_000:08d}"


def fmt4(units_e4):
    return f"{units_e4 // 10_000}.{units_e4 % 10_000:04d}"


OPENAI_1 = "ch-openai-1"
ROUTES = [
    Route("gpt-4o", "chat", [
        Channel(OPENAI_1, "openai", "gpt-4o-2024-08-06", "bind-7c1e", 0.7),
        Channel("ch-azure-1", "azure-openai", "gpt-4o-2024-11-20", "bind-3fa9", 0.3),
    ], 2.50, 10.00, 1.25, ttft_ms=450, ms_per_token=11, weight=18),
    Route("gpt-4o-mini", "chat", [
        Channel(OPENAI_1, "openai", "gpt-4o-mini-2024-07-18", "bind-7c1e", 0.6),
        Channel("ch-openai-2", "openai", "gpt-4o-mini-2024-07-18", "bind-d402", 0.4),
    ], 0.15, 0.60, 0.075, ttft_ms=300, ms_per_token=7, weight=26),
    Route("claude-sonnet-4", "chat", [
        Channel("ch-anthropic-1", "anthropic", "claude-sonnet-4-20250514", "bind-51b0", 0.75),
        Channel("ch-bedrock-1", "aws-bedrock", "anthropic.claude-sonnet-4-20250514-v1:0",
                "bind-e7d2", 0.25),
    ], 3.00, 15.00, 0.30, protocols=(("anthropic", 0.7), ("openai", 0.3)),
        ttft_ms=650, ms_per_token=14, weight=14),
    Route("claude-haiku", "chat", [
        Channel("ch-anthropic-1", "anthropic", "claude-3-5-haiku-20241022", "bind-51b0"),
    ], 0.80, 4.00, 0.08, protocols=(("anthropic", 0.7), ("openai", 0.3)),
        ttft_ms=380, ms_per_token=8, weight=10),
    Route("gemini-2.5-pro", "chat", [
        Channel("ch-google-1", "google", "gemini-2.5-pro", "bind-9b44"),
    ], 1.25, 10.00, 0.31, protocols=(("gemini", 0.6), ("openai", 0.4)),
        ttft_ms=900, ms_per_token=10, weight=7),
    Route("gemini-flash", "chat", [
        Channel("ch-google-1", "google", "gemini-2.5-flash", "bind-9b44"),
    ], 0.30, 2.50, 0.075, protocols=(("gemini", 0.6), ("openai", 0.4)),
        ttft_ms=350, ms_per_token=5, weight=9),
    Route("deepseek-chat", "chat", [
        Channel("ch-deepseek-1", "deepseek", "deepseek-chat", "bind-2e6f"),
    ], 0.27, 1.10, 0.07, ttft_ms=700, ms_per_token=16, weight=10),
    Route("qwen-max", "chat", [
        Channel("ch-aliyun-1", "aliyun", "qwen-max-2025-01-25", "bind-c8d1"),
    ], 1.60, 6.40, None, ttft_ms=600, ms_per_token=13, weight=6),
    Route("text-embedding-3-small", "embedding", [
        Channel(OPENAI_1, "openai", "text-embedding-3-small", "bind-7c1e"),
    ], 0.02, weight=8),
    Route("text-embedding-v3", "embedding", [
        Channel("ch-aliyun-1", "aliyun", "text-embedding-v3", "bind-c8d1"),
    ], 0.07, weight=2),
    Route("bge-reranker", "rerank", [
        Channel("ch-siliconflow-1", "siliconflow", "BAAI/bge-reranker-v2-m3", "bind-0a7e"),
    ], call_price=0.0004, weight=6),
    Route("cohere-rerank", "rerank", [
        Channel("ch-cohere-1", "cohere", "rerank-v3.5", "bind-6d19"),
    ], call_price=0.002, weight=2),
]
ROUTES_BY_NAME = {r.platform_model: r for r in ROUTES}
RAG_MODELS = ["gpt-4o-mini", "claude-haiku", "deepseek-chat", "qwen-max", "gemini-flash", "gpt-4o"]
RAG_RETRIEVAL_E10 = 20_000_000  # $0.002 per query for retrieval
RAG_RETRIEVAL_STR = _price_str(RAG_RETRIEVAL_E10)

# Apps behind the keys: (key name, app, env, endpoint weights chat/embedding/rerank/rag.query).
KEY_TEMPLATES = [
    ("prod-backend", "support-bot", "prod", (80, 10, 2, 8)),
    ("staging-backend", "support-bot", "staging", (85, 8, 2, 5)),
    ("rag-service", "kb-search", "prod", (10, 30, 20, 40)),
    ("ci-evals", "eval-harness", "staging", (95, 5, 0, 0)),
    ("notebook", "research", "staging", (75, 15, 5, 5)),
    ("mobile-app", "mobile-assistant", "prod", (90, 0, 0, 10)),
    ("batch-embeddings", "indexer", "prod", (2, 95, 3, 0)),
    ("slack-bot", "slack-assistant", "prod", (70, 5, 5, 20)),
]
ENDPOINTS = ["chat", "embedding", "rerank", "rag.query"]

ERROR_CODES = [
    ("upstream_timeout", 30), ("rate_limited", 28), ("upstream_error", 15),
    ("context_length_exceeded", 10), ("invalid_request", 12), ("content_filtered", 5),
]
_ERROR_NAMES = [c for c, _ in ERROR_CODES]
_ERROR_CUM = _cum([w for _, w in ERROR_CODES])
UPSTREAM_ERRORS = [
    "Upstream returned HTTP 502: Bad Gateway",
    "Upstream returned HTTP 503: the model is overloaded, please retry",
    "Upstream returned HTTP 500: internal error",
    "Upstream connection reset by peer",
]
INVALID_REQUESTS = [
    "Invalid 'messages[2].role': expected one of system, user, assistant, tool",
    "Invalid value for 'temperature': 3.5 is greater than the maximum of 2",
    "'tools[0].function.parameters' is not a valid JSON schema",
    "Unsupported parameter 'logprobs' for this model",
]


def error_message(rng, code, route, channel, group, prompt_tokens):
    if code == "upstream_timeout":
        return f"Upstream {channel.upstream_name} ({channel.channel_id}) did not respond within 60s"
    if code == "rate_limited":
        return f"Rate limit exceeded for group {group}: {GROUP_RPM[group]} requests per minute"
    if code == "upstream_error":
        return rng.choice(UPSTREAM_ERRORS)
    if code == "context_length_exceeded":
        return (f"This model's maximum context length is 128000 tokens; the request used "
                f"{prompt_tokens} tokens")
    if code == "content_filtered":
        return "The response was blocked by the upstream content policy"
    return rng.choice(INVALID_REQUESTS)


# --- Time ------------------------------------------------------------------------------------

def local_weight(local_dt):
    """Relative traffic in one local hour: working hours busy, nights and weekends quiet."""
    h = local_dt.hour
    if 9 <= h < 12 or 14 <= h < 18:
        w = 1.0
    elif 12 <= h < 14:
        w = 0.8
    elif 7 <= h < 9 or 18 <= h < 21:
        w = 0.45
    elif 21 <= h < 24:
        w = 0.25
    else:
        w = 0.08
    if local_dt.weekday() >= 5:
        w *= 0.3
    return w


class Clock:
    """Hour buckets over [start, end) with a cumulative traffic weight per time zone."""

    def __init__(self, rng, end, days):
        self.end = end
        self.start = end - timedelta(days=days)
        self.t0 = self.start.timestamp()
        self.t_end = end.timestamp()
        hours = days * 24
        self.hours = hours
        day_noise = [rng.uniform(0.8, 1.2) for _ in range(days + 1)]
        self.cum = {}
        for tz_name in TIMEZONES:
            tz = zoneinfo.ZoneInfo(tz_name)
            weights = []
            for i in range(hours):
                utc = self.start + timedelta(hours=i)
                trend = 0.85 + 0.3 * i / hours  # traffic grows over the window
                weights.append(local_weight(utc.astimezone(tz)) * trend * day_noise[i // 24])
            self.cum[tz_name] = _cum(weights)

    def sample(self, rng, tz_name, lo=0.0, hi=1.0):
        """A timestamp (epoch seconds) following the traffic rhythm of `tz_name`.

        `lo`/`hi` restrict it to a slice of the window's traffic (0..1), so rows can be
        generated in time order, one slice per chunk.
        """
        cum = self.cum[tz_name]
        i = bisect.bisect(cum, (lo + rng.random() * (hi - lo)) * cum[-1])
        return min(self.t0 + (i + rng.random()) * 3600.0, self.t_end - 0.001)

    def uniform(self, rng):
        return self.t0 + rng.random() * (self.t_end - self.t0 - 1)


def dt(epoch):
    return datetime.fromtimestamp(epoch, tz=UTC)


def req_id(rng):
    return f"req_{rng.getrandbits(96):024x}"


def hexid(rng, prefix, bits=48):
    return f"{prefix}{rng.getrandbits(bits):0{bits // 4}x}"


# --- Users and keys ----------------------------------------------------------------------

@dataclass
class Person:
    user: User
    group: str
    company: str
    office_ip: str
    browser_ua: str
    idp: str
    mfa: bool
    weight: float  # share of usage traffic
    keys: list = field(default_factory=list)

    @property
    def tz(self):
        return self.user.timezone if self.user.timezone in TIMEZONES else "UTC"


@dataclass
class KeyInfo:
    key: ApiKey
    person: Person
    app: str
    env: str
    ua: str
    ips: list
    endpoint_cum: list
    favourite: str
    revoked_at: float | None  # epoch
    # Snapshot strings used in every usage row.
    sid: str = ""
    meta_prefix: str = ""


def role_user_specs():
    return [
        # username, email, display name, tz, staff, superuser
        ("admin", "admin@example.com", "Console Admin", "UTC", True, True),
        ("auditor", "auditor@example.com", "Audrey Auditor", "Europe/Berlin", True, False),
        ("support", "support@example.com", "Sam Support", "America/New_York", True, False),
        ("finance", "finance@example.com", "Fiona Finance", "Europe/London", True, False),
        ("member", "member@example.com", "Max Member", "Asia/Taipei", False, False),
    ]


def demo_user_specs(rng):
    """50 deterministic (username, email, display name, tz, company slug) tuples."""
    pairs = [(f, l) for f in FIRST_NAMES for l in LAST_NAMES if f != l]
    rng.shuffle(pairs)
    specs, seen = [], set()
    for first, last in pairs:
        if first in seen:  # one person per first name keeps usernames easy to tell apart
            continue
        seen.add(first)
        slug, _company = COMPANIES[len(specs) % len(COMPANIES)]
        username = f"{first}.{last}"
        specs.append((username, f"{username}@{slug}.example.com",
                      f"{first.title()} {last.title()}", rng.choice(TIMEZONES), slug))
        if len(specs) == len(FIRST_NAMES):
            break
    # 30 first names: add surname-first usernames for the rest.
    for first, last in pairs:
        if len(specs) >= DEMO_USER_COUNT:
            break
        username = f"{last}.{first}"
        if username in {s[0] for s in specs}:
            continue
        slug, _company = COMPANIES[len(specs) % len(COMPANIES)]
        specs.append((username, f"{username}@{slug}.example.com",
                      f"{first.title()} {last.title()}", rng.choice(TIMEZONES), slug))
    return specs[:DEMO_USER_COUNT]


def ensure_users(rng, now):
    """Create (or find) the console and demo users; returns (people, created_count)."""
    created = 0
    people = []
    passwords = {username: password for username, password, _role in DEMO_LOGINS}
    for username, email, name, tz, staff, superuser in role_user_specs():
        user, was_created = User.objects.update_or_create(
            username=username,
            defaults={"is_staff": staff, "is_superuser": superuser, "is_active": True},
            create_defaults={"email": email, "display_name": name, "timezone": tz,
                             "is_staff": staff, "is_superuser": superuser,
                             "date_joined": now - timedelta(days=400)},
        )
        if was_created:  # an existing account keeps the password its owner chose
            user.password = make_password(passwords[username])
            user.save(update_fields=["password"])
            created += 1
        people.append(user)

    demo_hash = None
    specs = demo_user_specs(rng)
    joined_recently = set(rng.sample(range(len(specs)), 8))
    inactive = set(rng.sample(sorted(set(range(len(specs))) - joined_recently), 2))
    for i, (username, email, name, tz, _slug) in enumerate(specs):
        days_ago = rng.uniform(1, DAYS - 1) if i in joined_recently else rng.uniform(40, 500)
        user = User.objects.filter(username=username).first()
        if user is None:
            if demo_hash is None:
                demo_hash = make_password(DEMO_USER_PASSWORD)
            user = User.objects.create(
                username=username, email=email, display_name=name, timezone=tz,
                password=demo_hash, is_active=i not in inactive,
                date_joined=now - timedelta(days=days_ago),
            )
            created += 1
        people.append(user)

    assign_roles(people)
    result = []
    for user in people:
        company = user.email.rpartition("@")[2].split(".")[0] or "example"
        net = OFFICE_NETS[hash_int(company) % len(OFFICE_NETS)]
        group = ("enterprise" if user.is_staff else
                 rng.choices(GROUPS, weights=(60, 25, 15))[0])
        idp = ("oidc" if group == "enterprise" and rng.random() < 0.6 else
               rng.choices(["password", "google", "github", "oidc"], weights=(70, 15, 10, 5))[0])
        if user.is_staff:
            weight = 0.3 if user.username != "admin" else 0.1
        elif user.username == "member":
            weight = 3.0
        else:
            weight = 1.0 / (1 + rng.random() * 12) ** 1.2 * (3 if group == "enterprise" else 1)
        result.append(Person(
            user=user, group=group, company=company,
            office_ip=f"{net}{10 + hash_int(company) % 200}",
            browser_ua=rng.choice(BROWSER_UAS), idp=idp,
            mfa=user.is_staff or rng.random() < 0.25, weight=weight,
        ))
    return result, created


def assign_roles(users):
    """Put each user without a role into theirs (ROLE_GROUPS, else the default role)."""
    try:
        from accounts.roles import DEFAULT_ROLE, ROLE_NAMES
    except ImportError:  # roles not defined: nothing to assign
        return
    groups = {g.name: g for g in Group.objects.filter(name__in=ROLE_NAMES)}
    has_role = set(User.groups.through.objects.filter(
        user__in=users, group__name__in=ROLE_NAMES).values_list("user_id", flat=True))
    for user in users:
        group = groups.get(ROLE_GROUPS.get(user.username, DEFAULT_ROLE))
        if group is not None and user.pk not in has_role:
            user.groups.add(group)


def hash_int(text):
    return int(hashlib.sha256(text.encode()).hexdigest()[:8], 16)


# The services that report the demo's rows, each with its own ingest key (fixed public ids,
# so their rows name them across runs; their secrets are random and shown to nobody).
GATEWAY = ("lc_gateway01", "api-gateway", ["auth", "system", "usage"])
MEMORY_SERVICE = ("lc_memsvc001", "memory-extractor", ["audit"])


def ensure_service_keys(admin):
    """The demo's ingest keys, owned by the administrator."""
    import secrets

    for prefix, name, kinds in (GATEWAY, MEMORY_SERVICE):
        if not ApiKey.objects.filter(prefix=prefix).exists():
            ApiKey.objects.create(owner=admin, name=name, prefix=prefix,
                                  secret_hash=ApiKey.hash_secret(secrets.token_urlsafe(32)),
                                  scopes=["ingest"], kinds=kinds, group="default")


def ensure_keys(rng, people, now):
    """1-3 keys per person, created only for people without keys; returns created count."""
    created = 0
    for person in people:
        existing = list(ApiKey.objects.filter(owner=person.user).order_by("pk"))
        if not existing:
            count = 1 if person.user.is_staff else rng.choices((1, 2, 3), weights=(45, 35, 20))[0]
            templates = rng.sample(KEY_TEMPLATES, count)
            for j, (name, _app, env, _mix) in enumerate(templates):
                # A member's key only reads (an ingest key is a service key, made by an
                # administrator). The draw that once chose its scopes stays, so the demo's
                # logs come out as before.
                if env != "prod":
                    rng.random()
                scopes = ["read"]
                key, _secret = ApiKey.generate(owner=person.user, name=name, scopes=scopes,
                                               group=person.group)
                # Backdate creation: most keys predate the window, a few are new.
                joined = person.user.date_joined
                age = now - joined
                created_at = joined + age * rng.uniform(0.05, 0.6 if j == 0 else 0.95)
                key.created_at = created_at
                fields = ["created_at"]
                if j > 0 and rng.random() < 0.12:
                    key.status = ApiKey.Status.REVOKED
                    key.revoked_at = created_at + (now - created_at) * rng.uniform(0.5, 0.95)
                    fields += ["status", "revoked_at"]
                key.save(update_fields=fields)
                created += 1
            existing = list(ApiKey.objects.filter(owner=person.user).order_by("pk"))
        person.keys = existing
    return created


def key_infos(rng, people):
    infos = []
    by_name = {t[0]: t for t in KEY_TEMPLATES}
    chat_routes = [r.platform_model for r in ROUTES if r.endpoint == "chat"]
    for person in people:
        for key in person.keys:
            _name, app, env, mix = by_name.get(key.name, ("", "custom-app", "prod", (85, 10, 0, 5)))
            if env == "prod":
                ips = [f"198.51.100.{100 + rng.randrange(100)}" for _ in range(rng.randint(1, 3))]
            else:
                ips = [person.office_ip, f"192.0.2.{rng.randrange(1, 250)}"]
            info = KeyInfo(
                key=key, person=person, app=app, env=env, ua=rng.choice(SDK_UAS), ips=ips,
                endpoint_cum=_cum(mix), favourite=rng.choice(chat_routes),
                revoked_at=key.revoked_at.timestamp() if key.revoked_at else None,
            )
            info.sid = key.prefix  # keys are known by their public prefix everywhere
            info.meta_prefix = f'{{"app": "{app}", "env": "{env}", "trace": '
            infos.append(info)
    return infos


# --- Usage rows --------------------------------------------------------------------------

USAGE_FIELDS = (
    "event_id", "occurred_at", "ingested_at", "actor_type", "actor_id", "actor_name", "ip",
    "user_agent", "request_id", "metadata", "user_id", "username", "api_key_id", "api_key_name",
    "group", "endpoint", "platform_model", "upstream_model", "upstream_name", "channel_id",
    "binding_code", "protocol", "billing_mode", "prompt_tokens", "completion_tokens",
    "cached_tokens", "total_tokens", "cost", "quota", "credits", "billing_items", "latency_ms",
    "first_token_ms", "is_stream", "call_count", "status", "error_code", "error_message",
    "ingested_by", "ingested_by_name",
)
U = {name: i for i, name in enumerate(USAGE_FIELDS)}


@dataclass
class Incident:
    """A window in which one upstream times out or fails most calls."""

    start: float
    end: float
    upstreams: tuple
    rate: float = 0.7


class UsageMaker:
    """Builds usage rows as tuples in USAGE_FIELDS order, JSON and decimals as strings.

    The same tuples feed COPY directly and, after `to_model`, bulk_create.
    """

    def __init__(self, rng, keys, clock, incidents=()):
        self.rng = rng
        self.keys = keys
        self.clock = clock
        self.incidents = list(incidents)
        self.key_cum = _cum([k.person.weight / len(k.person.keys) for k in keys])
        self.active_keys = {}
        for k in keys:
            self.active_keys.setdefault(k.person.user.pk, []).append(k)
        by_endpoint = {}
        for r in ROUTES:
            by_endpoint.setdefault(r.endpoint, []).append(r)
        self.endpoint_routes = {e: (rs, _cum([r.weight for r in rs])) for e, rs in
                                by_endpoint.items()}
        rag = [ROUTES_BY_NAME[m] for m in RAG_MODELS]
        self.endpoint_routes["rag.query"] = (rag, _cum([6, 4, 3, 1, 2, 1]))

    def pick_key(self, lo=0.0, hi=1.0):
        rng = self.rng
        key = self.keys[bisect.bisect(self.key_cum, rng.random() * self.key_cum[-1])]
        ts = self.clock.sample(rng, key.person.tz, lo, hi)
        if key.revoked_at is not None and ts > key.revoked_at:
            key = next((k for k in self.active_keys[key.person.user.pk] if k.revoked_at is None),
                       key)
        return key, ts

    def row(self, event_id, key=None, ts=None, force_error=None, endpoint=None,
            request_id=None):
        rng = self.rng
        if key is None:
            key, ts = self.pick_key()
        rnd = rng.random
        if endpoint is None:
            endpoint = ENDPOINTS[bisect.bisect(key.endpoint_cum, rnd() * key.endpoint_cum[-1])]
        routes, cum = self.endpoint_routes[endpoint]
        if endpoint == "chat" and rnd() < 0.5:
            route = ROUTES_BY_NAME[key.favourite]
        else:
            route = routes[bisect.bisect(cum, rnd() * cum[-1])]
        channels = route.channels
        channel = channels[0] if len(channels) == 1 else channels[
            bisect.bisect(route._channel_cum, rnd() * route._channel_cum[-1])]
        names = route._protocol_names
        protocol = names[0] if len(names) == 1 else names[
            bisect.bisect(route._protocol_cum, rnd() * route._protocol_cum[-1])]

        # Tokens and timing per endpoint.
        first_token = None
        is_stream = False
        cached = 0
        if endpoint == "chat":
            prompt = min(int(rng.lognormvariate(6.8, 1.0)) + 8, 120_000)
            completion = min(int(rng.lognormvariate(5.6, 0.9)) + 1, 8192)
            if route.has_cache and prompt > 1024 and rnd() < 0.35:
                cached = int(prompt * (0.3 + 0.6 * rnd())) // 128 * 128
            is_stream = rnd() < 0.6
            ttft = int(route.ttft_ms * (0.6 + rnd() * 0.9) + prompt * 0.01)
            latency = ttft + int(completion * route.ms_per_token * (0.7 + rnd() * 0.7))
            if is_stream:
                first_token = ttft
        elif endpoint == "rag.query":
            prompt = min(1500 + int(rng.lognormvariate(8.0, 0.6)), 60_000)
            completion = min(int(rng.lognormvariate(5.8, 0.7)) + 20, 4096)
            is_stream = rnd() < 0.4
            retrieval = 150 + int(rnd() * 450)
            ttft = retrieval + int(route.ttft_ms * (0.6 + rnd() * 0.9) + prompt * 0.01)
            latency = ttft + int(completion * route.ms_per_token * (0.7 + rnd() * 0.7))
            if is_stream:
                first_token = ttft
        elif endpoint == "embedding":
            prompt = min(int(rng.lognormvariate(5.8, 1.1)) + 1, 8191)
            completion = 0
            latency = 40 + int(prompt * 0.03 + rnd() * 250)
        else:  # rerank
            prompt = min(int(rng.lognormvariate(7.5, 0.8)) + 50, 32_000)
            completion = 0
            latency = 80 + int(prompt * 0.05 + rnd() * 400)

        error = force_error
        if error is None:
            for inc in self.incidents:
                if inc.start <= ts < inc.end and channel.upstream_name in inc.upstreams:
                    if rnd() < inc.rate:
                        error = "upstream_timeout" if rnd() < 0.75 else "upstream_error"
                    break
            if error is None and rnd() < 0.035:
                error = _ERROR_NAMES[bisect.bisect(_ERROR_CUM, rnd() * _ERROR_CUM[-1])]

        group = key.person.group
        if error is None:
            status, error_code, message = "success", "", ""
            if route.billing_mode == "per_call":
                cost = (route.p_call + 50) // 100
                items = (f'[{{"name": "call", "quantity": 1, "unit_price": "{route.s_call}", '
                         f'"amount": "{fmt8(cost)}"}}]')
            else:
                billable = prompt - cached
                a_in = (billable * route.p_in + 50) // 100
                cost = a_in
                parts = [f'{{"name": "input", "quantity": {billable}, "unit_price": '
                         f'"{route.s_in}", "amount": "{fmt8(a_in)}"}}']
                if cached:
                    a_c = (cached * route.p_cached + 50) // 100
                    cost += a_c
                    parts.append(f'{{"name": "cached_input", "quantity": {cached}, '
                                 f'"unit_price": "{route.s_cached}", "amount": "{fmt8(a_c)}"}}')
                if completion:
                    a_out = (completion * route.p_out + 50) // 100
                    cost += a_out
                    parts.append(f'{{"name": "output", "quantity": {completion}, '
                                 f'"unit_price": "{route.s_out}", "amount": "{fmt8(a_out)}"}}')
                if endpoint == "rag.query":
                    a_r = RAG_RETRIEVAL_E10 // 100
                    cost += a_r
                    parts.append(f'{{"name": "retrieval", "quantity": 1, "unit_price": '
                                 f'"{RAG_RETRIEVAL_STR}", "amount": "{fmt8(a_r)}"}}')
                items = "[" + ", ".join(parts) + "]"
            credits = fmt4(10_000 + prompt + completion) if endpoint == "rag.query" else "0.0000"
        else:
            status, error_code = "error", error
            cost, items, credits, cached, first_token = 0, "[]", "0.0000", 0, None
            completion = 0
            if error == "upstream_timeout":
                latency = 60_000 + int(rnd() * 400)
            elif error == "rate_limited":
                latency = 3 + int(rnd() * 30)
            elif error == "context_length_exceeded":
                prompt = 128_001 + int(rnd() * 60_000)
                latency = 20 + int(rnd() * 150)
            elif error == "upstream_error":
                latency = 200 + int(rnd() * 5000)
            else:
                latency = 10 + int(rnd() * 200)
            message = error_message(rng, error, route, channel, group, prompt)

        ips = key.ips
        ip = ips[0] if len(ips) == 1 else ips[int(rnd() * len(ips))]
        ua = key.ua if rnd() < 0.93 else SDK_UAS[int(rnd() * len(SDK_UAS))]
        user = key.person.user
        occurred = dt(ts)
        return (
            event_id, occurred, occurred + timedelta(milliseconds=latency + 20 + int(rnd() * 900)),
            "api_key", key.sid, key.key.name, ip, ua,
            request_id or f"req_{rng.getrandbits(96):024x}",
            f"{key.meta_prefix}{rng.getrandbits(31)}}}",
            str(user.pk), user.username, key.sid, key.key.name, group, endpoint,
            route.platform_model, channel.upstream_model, channel.upstream_name,
            channel.channel_id, channel.binding_code, protocol, route.billing_mode,
            prompt, completion, cached, prompt + completion, fmt8(cost), cost // 200, credits,
            items, latency, first_token, is_stream, 1, status, error_code, message,
            GATEWAY[0], GATEWAY[1],
        )


def to_usage_model(row):
    values = dict(zip(USAGE_FIELDS, row))
    values["metadata"] = json.loads(values["metadata"])
    values["billing_items"] = json.loads(values["billing_items"])
    values["cost"] = Decimal(values["cost"])
    values["credits"] = Decimal(values["credits"])
    return UsageRecord(**values)


def demo_id(kind, n):
    return uuid.uuid5(DEMO_NAMESPACE, f"{kind}:{n}")


# --- The 30-day demo -------------------------------------------------------------------------

@dataclass
class Seeded:
    users_created: int = 0
    keys_created: int = 0
    inserted: dict = field(default_factory=dict)
    skipped: bool = False


def generator_for(kind):
    """The kind's demo generator: DemoBuilder's own `build_<slug>` for the four kinds built
    together here (their rows correlate: they fill the builder's lists, in order), else the
    function the kind's registry entry names in `demo` ("module.function"), called with the
    builder (its rng, now, clock, people, keys and counts) and returning unsaved rows."""
    if hasattr(DemoBuilder, f"build_{kind.slug}"):
        return getattr(DemoBuilder, f"build_{kind.slug}")
    if not kind.demo:
        return None
    module, _, name = kind.demo.rpartition(".")
    return getattr(import_module(module), name)


def demo_counts(counts=None):
    """Rows per kind of the 30-day demo: DEFAULT_COUNTS, for every registered kind."""
    counts = {**DEFAULT_COUNTS, **(counts or {})}
    return {kind.slug: counts.get(kind.slug, DEFAULT_OTHER_COUNT) for kind in registry}


def demo_present(counts):
    """True when the last demo row of every kind is already stored."""
    models = {kind.slug: kind.model for kind in registry}
    return all(
        models[kind].objects.filter(event_id=demo_id(kind, 0)).exists()
        and models[kind].objects.filter(event_id=demo_id(kind, n - 1)).exists()
        for kind, n in counts.items() if n
    )


def stored_event_ids(model, event_ids, chunk=900):
    """Which of `event_ids` are already stored in `model`'s table (at any time)."""
    stored = set()
    for start in range(0, len(event_ids), chunk):
        stored.update(model.objects.filter(event_id__in=event_ids[start:start + chunk])
                      .values_list("event_id", flat=True))
    return stored


def seed(counts=None, now=None, log=print):
    counts = demo_counts(counts)
    now = now or timezone.now()
    rng = random.Random(SEED)
    result = Seeded()
    _sqlite_cache()
    # The demo writes its own, backdated audit history; the live audit signals stay quiet.
    with transaction.atomic(), suppress_admin_audit():
        people, result.users_created = ensure_users(rng, now)
        # Keys draw from their own stream, so the logs come out the same whether or not
        # this run had to create them.
        result.keys_created = ensure_keys(random.Random(SEED + 1), people, now)
        ensure_service_keys(next(p.user for p in people if p.user.is_superuser
                                 or p.user.username == "admin"))
        if demo_present(counts):
            result.skipped = True
            return result
        keys = key_infos(rng, people)
        clock = Clock(rng, now, DAYS)
        builder = DemoBuilder(rng, now, clock, people, keys, counts)
        builder.build()
        for kind in registry:
            kind, model, rows = kind.slug, kind.model, builder.rows[kind.slug]
            # After a partial wipe only the missing rows go in. A re-run dates the rows
            # anew, and on PostgreSQL a usage event_id is unique only with its time, so
            # ignore_conflicts alone stored the same ids a second time.
            stored = stored_event_ids(model, [row.event_id for row in rows])
            rows = [row for row in rows if row.event_id not in stored]
            before = model.objects.count()
            model.objects.bulk_create(rows, batch_size=2000, ignore_conflicts=True)
            result.inserted[kind] = model.objects.count() - before
        rollup_rebuild()  # bulk inserts bypass the per-row rollup upkeep
        # Keys remember when they were last used.
        last_used = {}
        for row in builder.usage:
            key_id = row.api_key_id
            if row.occurred_at > last_used.get(key_id, row.occurred_at - timedelta(1)):
                last_used[key_id] = row.occurred_at
        updated = []
        for info in keys:
            when = last_used.get(info.sid)
            if when and (info.key.last_used_at is None or info.key.last_used_at < when):
                info.key.last_used_at = when
                updated.append(info.key)
        ApiKey.objects.bulk_update(updated, ["last_used_at"])
    return result


def demo_provenance(kind, row):
    """Who reported a demo row: the memory service its own audit events, the gateway the
    upstream's system events, the console the rest (sign-ins, admin changes, its tasks)."""
    if kind == "audit" and row.actor_type == "service":
        return MEMORY_SERVICE[:2]
    if kind == "system" and row.source == "upstream":
        return GATEWAY[:2]
    return CONSOLE, "Logcenter console"


class DemoBuilder:
    """Generates the four kinds in memory, correlated by request_id and resource_id."""

    def __init__(self, rng, now, clock, people, keys, counts):
        self.rng = rng
        self.now = now
        self.clock = clock
        self.people = people
        self.keys = keys
        self.counts = counts
        self.by_username = {p.user.username: p for p in people}
        self.usage, self.audit, self.auth, self.system = [], [], [], []
        self.memories = {}
        self.documents = {}

    def build(self):
        self.build_usage()
        self.build_audit()
        self.build_auth()
        self.build_system()
        self.rows = {"usage": self.usage, "audit": self.audit, "auth": self.auth,
                     "system": self.system}
        for kind in registry:  # the kinds registered beyond these four
            if kind.slug not in self.rows:
                self.rows[kind.slug] = (list(generator_for(kind)(self))
                                        if self.counts.get(kind.slug) else [])
        for kind, rows in self.rows.items():
            rows.sort(key=lambda r: r.occurred_at)
            for n, row in enumerate(rows):
                row.event_id = demo_id(kind, n)
                if kind != "usage":
                    row.ingested_by, row.ingested_by_name = demo_provenance(kind, row)
                if row.ingested_at > self.now:
                    row.ingested_at = self.now

    # Usage -------------------------------------------------------------------------------
    def build_usage(self):
        rng, clock = self.rng, self.clock
        t0 = clock.t0
        # An Anthropic outage nine days ago, 45 minutes at 14:10 UTC.
        day = (self.now - timedelta(days=9)).replace(hour=14, minute=10, second=0, microsecond=0)
        self.outage = Incident(day.timestamp(), day.timestamp() + 45 * 60, ("anthropic",))
        maker = UsageMaker(rng, self.keys, clock, [self.outage])
        self.maker = maker
        target = self.counts["usage"]
        # A runaway batch script hammers one key into its rate limit for twenty minutes.
        runaway_key = max((k for k in self.keys if k.env == "staging"),
                          key=lambda k: k.person.weight, default=self.keys[0])
        self.runaway = (runaway_key, t0 + 19.6 * 86400)
        runaway_rows = min(300, target // 20)
        rows = []
        for _ in range(runaway_rows):
            ts = self.runaway[1] + rng.random() * 1200
            rows.append(maker.row(None, key=runaway_key, ts=ts, endpoint="chat",
                                  force_error="rate_limited" if rng.random() < 0.8 else None))
        while len(rows) < target:
            rows.append(maker.row(None))
        self.usage = [to_usage_model(r) for r in rows]

    # Audit -------------------------------------------------------------------------------
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
                          actor_name="memory-extractor", ip="10.20.0.14", user_agent=SERVICE_UA)
        values["ingested_at"] = values["occurred_at"] + timedelta(milliseconds=rng.randint(5, 800))
        values.update(kw)
        row = AuditEvent(**values)
        self.audit.append(row)
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

    def build_audit(self):
        rng = self.rng
        target = self.counts["audit"]
        # 1. Memory reads and writes during RAG queries share the usage row's request_id.
        for rec in self.usage:
            if rec.endpoint != "rag.query" or rng.random() > 0.3:
                continue
            key = self.key_by_sid(rec.api_key_id)
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
            if len(self.audit) >= target * 0.2:
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
        while len(self.audit) < target:
            self.random_audit()

    def key_by_sid(self, sid):
        if not hasattr(self, "_keys_by_sid"):
            self._keys_by_sid = {k.sid: k for k in self.keys}
        return self._keys_by_sid[sid]

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
            self._audit_cum = _cum([w for _, w in self.AUDIT_MIX])
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

    # Auth --------------------------------------------------------------------------------
    def auth_row(self, ts, event, person=None, username=None, ip=None, ua=None, result="success",
                 failure_reason="", session=None, provider=None, actor=None):
        rng = self.rng
        if ts >= self.clock.t_end:
            return None
        values = dict(occurred_at=dt(ts), event=event, result=result,
                      failure_reason=failure_reason, request_id=req_id(rng))
        values["ingested_at"] = values["occurred_at"] + timedelta(milliseconds=rng.randint(5, 500))
        if person is not None:
            values.update(user_id=str(person.user.pk), username_attempted=person.user.username,
                          actor_type="user", actor_id=str(person.user.pk),
                          actor_name=person.user.username, ip=ip or person.office_ip,
                          user_agent=ua or person.browser_ua,
                          identity_provider=provider or person.idp)
        else:
            values.update(username_attempted=username or "", actor_type="user", ip=ip,
                          user_agent=ua or "", identity_provider=provider or "password")
        if actor is not None:  # who performed it, when not the user themself
            values.update(actor_type=actor[0], actor_id=actor[1], actor_name=actor[2])
        if session:
            values["session_key_hash"] = session
        row = AuthEvent(**values)
        self.auth.append(row)
        return row

    def new_session(self):
        return hashlib.sha256(f"demo-session:{self.rng.getrandbits(128)}".encode()).hexdigest()

    def login_session(self, person, ts):
        """A sign-in with optional failures and MFA, refreshes and a logout."""
        rng = self.rng
        if not person.user.is_active:
            self.auth_row(ts, "login.failed", person, result="failure", failure_reason="inactive")
            return
        provider = person.idp if rng.random() < 0.9 else "password"
        if provider == "password" and rng.random() < 0.08:
            self.auth_row(ts, "login.failed", person, result="failure",
                          failure_reason="bad_password", provider=provider)
            ts += rng.uniform(5, 40)
        if person.mfa:
            self.auth_row(ts, "mfa.challenged", person, provider=provider)
            ts += rng.uniform(4, 30)
            if rng.random() < 0.04:
                self.auth_row(ts, "login.failed", person, result="failure",
                              failure_reason="mfa_failed", provider=provider)
                return
            self.auth_row(ts, "mfa.succeeded", person, provider=provider)
            ts += 0.3
        session = self.new_session()
        self.auth_row(ts, "login.succeeded", person, session=session, provider=provider)
        for _ in range(rng.choice((0, 0, 1, 1, 2, 3, 4))):
            ts += rng.uniform(900, 3600)
            if ts >= self.clock.t_end:
                return
            self.auth_row(ts, "token.refreshed", person, session=session, provider=provider)
        if rng.random() < 0.6:
            ts += rng.uniform(300, 7200)
            if ts < self.clock.t_end:
                self.auth_row(ts, "logout", person, session=session, provider=provider)

    def build_auth(self):
        rng = self.rng
        clock = self.clock
        target = self.counts["auth"]
        t0 = clock.t0
        admin = self.by_username["admin"]
        support = self.by_username["support"]
        # Registrations inside the window.
        for person in self.people:
            joined = person.user.date_joined.timestamp()
            if joined >= t0:
                self.auth_row(joined, "register", person, provider=person.idp)
                if person.idp == "password":
                    self.auth_row(joined + rng.uniform(60, 3600), "email.verified", person)
                self.login_session(person, joined + rng.uniform(3700, 7200))
        # Lockouts: runs of bad passwords for three users, then unlock and a new password.
        members = [p for p in self.people if not p.user.is_staff and p.user.is_active]
        for person in rng.sample(members, 3):
            ts = clock.sample(rng, person.tz)
            ip = person.office_ip if rng.random() < 0.5 else f"198.51.100.{rng.randrange(2, 250)}"
            for _ in range(5):
                self.auth_row(ts, "login.failed", person, ip=ip, result="failure",
                              failure_reason="bad_password", provider="password")
                ts += rng.uniform(3, 25)
            self.auth_row(ts + 0.2, "account.locked", person, ip=ip, provider="password",
                          actor=("system", "lockout", "lockout policy"))
            for _ in range(rng.randint(1, 2)):
                ts += rng.uniform(30, 300)
                self.auth_row(ts, "login.failed", person, ip=ip, result="failure",
                              failure_reason="locked", provider="password")
            ts += rng.uniform(1800, 7200)
            unlocker = rng.choice([admin, support])
            self.auth_row(ts, "account.unlocked", person, ip=unlocker.office_ip,
                          ua=unlocker.browser_ua, provider="password",
                          actor=("user", str(unlocker.user.pk), unlocker.user.email))
            ts += rng.uniform(120, 900)
            self.auth_row(ts, "password.changed", person, provider="password",
                          session=self.new_session())
            self.login_session(person, ts + 5)
        # Typos and guesses for usernames that do not exist.
        guesses = ["root", "test", "admin1", "administrator", "oracle", "guest", "user",
                   "jdoe@example.com", "alice.chne", "bruno.muller", "support1", "finance-team"]
        for _ in range(60):
            ts = clock.uniform(rng)
            self.auth_row(ts, "login.failed", username=rng.choice(guesses),
                          ip=f"{rng.choice(OFFICE_NETS)}{rng.randrange(2, 254)}",
                          ua=rng.choice(BROWSER_UAS + ["python-requests/2.32.3"]),
                          result="failure", failure_reason="unknown_user")
        # Credential spraying: one address tries one password against many accounts.
        ts = t0 + 12.35 * 86400
        spray_ua = "python-requests/2.31.0"
        names = [p.user.username for p in self.people] + [
            f"{f}.{l}" for f in rng.sample(FIRST_NAMES, 12) for l in rng.sample(LAST_NAMES, 5)]
        for name in rng.sample(names, min(140, len(names))):
            ts += rng.uniform(0.5, 4)
            person = self.by_username.get(name)
            if person is not None:
                self.auth_row(ts, "login.failed", person, ip=SPRAY_IP, ua=spray_ua,
                              result="failure", failure_reason="bad_password", provider="password")
            else:
                self.auth_row(ts, "login.failed", username=name, ip=SPRAY_IP, ua=spray_ua,
                              result="failure", failure_reason="unknown_user")
        # Ordinary sessions until the target: staff sign in daily, others now and then.
        weights = [3.0 if p.user.is_staff else 0.6 + p.weight for p in self.people]
        cum = _cum(weights)
        while len(self.auth) < target:
            person = self.people[bisect.bisect(cum, rng.random() * cum[-1])]
            ts = clock.sample(rng, person.tz)
            if person.user.date_joined.timestamp() > ts:
                continue
            if rng.random() < 0.02 and person.user.is_active:
                self.auth_row(ts, "password.changed", person, session=self.new_session())
                continue
            self.login_session(person, ts)
        del self.auth[target:]

    # System ------------------------------------------------------------------------------
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
        values["ingested_at"] = values["occurred_at"] + timedelta(milliseconds=rng.randint(2, 300))
        row = SystemEvent(**values)
        self.system.append(row)
        return row

    def build_system(self):
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
        timeouts = [r for r in self.usage if r.error_code == "upstream_timeout"]
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
        self._ok_usage = [r for r in self.usage if r.status == "success" and
                          r.endpoint in ("chat", "rag.query")]
        # The outage: circuit opens, probes fail, circuit closes.
        out = self.outage
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
        runaway_key, runaway_ts = self.runaway
        self.sys_row(runaway_ts + 60, "upstream", "upstream.rate_limited", "warning",
                     f"Group {runaway_key.person.group} hit its rate limit for key "
                     f"{runaway_key.key.name}", "api_key", runaway_key.sid,
                     {"rpm_limit": GROUP_RPM[runaway_key.person.group], "rejected_in_window": 240})
        # Documents written in the audit log are processed and vectorized.
        docs = [r for r in self.audit if r.action == "document.write" and r.result == "success"]
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
        cum = _cum([w for _, w in mix])
        while len(self.system) < target:
            what = mix[bisect.bisect(cum, rng.random() * cum[-1])][0]
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
        del self.system[target:]


# --- Extra usage rows for benchmarks ---------------------------------------------------------

def _copy_columns():
    by_name = {f.name: f for f in UsageRecord._meta.concrete_fields}
    missing = set(by_name) - set(USAGE_FIELDS) - {"id"}
    if missing:
        raise RuntimeError(f"UsageRecord has fields the demo generator does not fill: {missing}")
    return [by_name[name].column for name in USAGE_FIELDS]


_EXTRA = {}  # state shared with --usage worker processes (inherited through fork)


def add_usage(n, chunk=20_000, days=EXTRA_DAYS, workers=1, log=print, alongside=None):
    """Append `n` usage rows spread over the last `days` days; returns (rows, seconds).

    `alongside()`, when given, runs in a thread of its own while the rollups are rebuilt
    (one database process at work, so the machine's other core is free for it).

    Chunks are generated in time order (each chunk one slice of the window's traffic, sorted),
    with time-ordered ids (UUIDv7 event_id, request_id led by the millisecond), the way live
    ingestion arrives: index inserts stay local instead of touching every page of every index.
    On PostgreSQL each chunk is one COPY; `workers` > 1 runs that many processes, each with its
    own connection, since the server's index maintenance, not Python, is the bound.
    """
    setup_rng = random.Random()
    now = timezone.now()
    ensure_usage_partitions(now - timedelta(days=days), now, wait=True)  # PostgreSQL only
    people = []
    for user in User.objects.order_by("pk"):
        people.append(Person(user=user, group="default", company="", office_ip="192.0.2.10",
                             browser_ua=BROWSER_UAS[0], idp="password", mfa=False,
                             weight=0.3 + setup_rng.random()))
    keys_by_owner = {}
    for key in ApiKey.objects.order_by("pk"):
        keys_by_owner.setdefault(key.owner_id, []).append(key)
    people = [p for p in people if p.user.pk in keys_by_owner]
    if not people:
        raise RuntimeError("no API keys: run seed_demo without --usage first")
    for p in people:
        p.keys = keys_by_owner[p.user.pk]
        p.group = p.keys[0].group or "default"
    postgres = connection.vendor == "postgresql"
    # On a partitioned table, rows go into index-free tables swapped in at the end.
    load_tables = bulk_load_tables(now - timedelta(days=days), now) if (
        postgres and is_partitioned()) else {}
    columns = _copy_columns()
    _EXTRA.clear()
    _EXTRA.update(
        n=n, keys=key_infos(setup_rng, people), clock=Clock(setup_rng, now, days),
        postgres=postgres, months=sorted(load_tables),
        first_id=reserve_ids(n) if load_tables else None,
        sql=["COPY {} ({}) FROM STDIN".format(
            connection.ops.quote_name(table),
            ", ".join(connection.ops.quote_name(c) for c in
                      (["id", *columns] if load_tables else columns)))
            for table in ([load_tables[m] for m in sorted(load_tables)] or
                          [UsageRecord._meta.db_table])],
    )
    step = chunk if postgres else 5_000
    chunks = [(start, min(step, n - start)) for start in range(0, n, step)]

    started = time.perf_counter()
    done = 0

    def progress(size):
        nonlocal done
        done += size
        if postgres or done % 50_000 < step or done == n:
            log(f"  {done:,} / {n:,} rows ({done / (time.perf_counter() - started):,.0f} rows/s)")

    import multiprocessing

    workers = max(1, min(workers, len(chunks)))
    if postgres and workers > 1 and "fork" in multiprocessing.get_all_start_methods():
        from django.db import connections

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
        _sqlite_cache()
        for bounds in chunks:
            progress(_extra_chunk(bounds))
    if load_tables:
        log(f"  {time.perf_counter() - started:.0f}s: building the indexes of "
            f"{len(load_tables)} monthly partitions …")
        bulk_load_swap(load_tables)
    elif postgres:
        with connection.cursor() as cursor:  # fresh statistics, or the planner guesses
            cursor.execute(f"ANALYZE {UsageRecord._meta.db_table}")
    log(f"  {time.perf_counter() - started:.0f}s: rebuilding the hourly usage rollups for the "
        "loaded range …")
    # SQLite has one writer: there the other kinds follow the rebuild instead.
    with _in_thread(alongside if postgres else None):
        rollup_rebuild(now - timedelta(days=days), now)
    if alongside is not None and not postgres:
        alongside()
    if postgres:
        with connection.cursor() as cursor:
            cursor.execute("VACUUM (ANALYZE) " + ", ".join(
                r._meta.db_table for r in USAGE_ROLLUPS))
    return done, time.perf_counter() - started


@contextmanager
def _in_thread(work):
    """Run `work()` in a thread (with its own database connection) during the block."""
    if work is None:
        yield
        return
    from django.db import connections

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


# Extra audit, auth and system rows per extra usage row (`seed_demo --usage`): a busy gateway
# serves many calls per sign-in, so far fewer than the 30-day demo's own mix.
EXTRA_EVENT_SHARES = {"audit": 0.01, "auth": 0.02, "system": 0.005}


def add_events(counts, days=EXTRA_DAYS, round_size=50_000, log=print):
    """Append audit, auth and system rows over the last `days` days; returns {kind: rows}.

    The demo's own generators make them, in rounds of about `round_size` rows (each round
    one more pass of the demo's stories over the window), with random event ids.
    """
    rng = random.Random()
    now = timezone.now()
    models = {"audit": AuditEvent, "auth": AuthEvent, "system": SystemEvent}
    remaining = {kind: max(0, counts.get(kind, 0)) for kind in models}
    added = dict.fromkeys(models, 0)
    with suppress_admin_audit():
        # The demo's own stream finds the demo's users (a fresh one would invent new ones).
        people, _ = ensure_users(random.Random(SEED), now)
        ensure_keys(random.Random(SEED + 1), people, now)  # finds them; fills person.keys
        keys = key_infos(rng, people)
        while any(remaining.values()):
            scale = min(1.0, round_size / sum(remaining.values()))
            share = {k: min(v, max(1, round(v * scale))) if v else 0
                     for k, v in remaining.items()}
            builder = DemoBuilder(rng, now, Clock(rng, now, days), people, keys,
                                  {"usage": 2_000, **share})
            builder.build()
            for kind, model in models.items():
                rows = getattr(builder, kind)[:remaining[kind]]
                for row in rows:
                    row.event_id = uuid.uuid4()
                model.objects.bulk_create(rows, batch_size=5_000)
                added[kind] += len(rows)
                remaining[kind] -= len(rows)
            log("  " + ", ".join(f"{kind} {added[kind]:,}" for kind in models))
    if connection.vendor == "postgresql":  # what autovacuum would do next, done now
        tables = [m._meta.db_table for m in models.values()]
        with connection.cursor() as cursor:
            cursor.execute(f"VACUUM (ANALYZE) {', '.join(tables)}")
    return added


def _sqlite_cache():
    """SQLite's default page cache (2 MB) makes every index insert a read: use 256 MB."""
    if connection.vendor == "sqlite":
        with connection.cursor() as cur:
            cur.execute("PRAGMA cache_size = -262144")


def _extra_init():
    """Per process: a fresh random stream (never one inherited from the parent)."""
    rng = random.Random()
    _EXTRA["rng"] = rng
    _EXTRA["maker"] = UsageMaker(rng, _EXTRA["keys"], _EXTRA["clock"])


def _extra_rows(start, size):
    n, maker = _EXTRA["n"], _EXTRA["maker"]
    getbits = _EXTRA["rng"].getrandbits
    make_row = maker.row
    lo, hi = start / n, (start + size) / n
    picks = [maker.pick_key(lo, hi) for _ in range(size)]
    picks.sort(key=lambda p: p[1])
    for key, ts in picks:
        ms = int(ts * 1000)
        # UUIDv7: 48-bit milliseconds, version 7, variant 10, random rest.
        h = f"{ms:012x}7{getbits(12):03x}{0x8000 | getbits(14):04x}{getbits(48):012x}"
        yield make_row(f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}", key, ts,
                       request_id=f"req_{ms:012x}{getbits(48):012x}")


def _extra_chunk(bounds):
    start, size = bounds
    rows = _extra_rows(start, size)
    if not _EXTRA["postgres"]:
        UsageRecord.objects.bulk_create([to_usage_model(row) for row in rows], batch_size=size)
        return size
    months, statements, first_id = _EXTRA["months"], _EXTRA["sql"], _EXTRA["first_id"]
    with connection.cursor() as cur:
        if not months:  # a plain table: one COPY, ids from its sequence
            with cur.connection.cursor() as raw, raw.copy(statements[0]) as copy:
                for row in rows:
                    copy.write_row(row)
            return size
        # Rows come in time order: one COPY per month the chunk touches, each row with its
        # reserved id (time order too).
        by_month = {}
        for number, row in enumerate(rows, start=first_id + start):
            index = bisect.bisect_right(months, row[1]) - 1
            by_month.setdefault(max(index, 0), []).append((number, *row))
        for index, month_rows in by_month.items():
            with cur.connection.cursor() as raw, raw.copy(statements[index]) as copy:
                for row in month_rows:
                    copy.write_row(row)
    return size
