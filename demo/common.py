"""The demo's world, shared by every kind's generator: the accounts and the gateway they call.

Constants (the seed, the sign-ins, names, user agents, documentation-only addresses), small
helpers (cumulative weights, times, ids), the traffic rhythm (`Clock`: working hours busy,
nights and weekends quiet, per time zone), the gateway's catalog (platform models, prices,
channels, the apps behind the keys), and the users and API keys the rows name (created once,
found on later runs). Nothing here writes a log row.
"""

import bisect
import hashlib
import secrets
import uuid
import zoneinfo
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from django.contrib.auth.hashers import make_password
from django.contrib.auth.models import Group

from accounts.models import ApiKey, User

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
    ("acme-admin", "acme-admin-demo-123",
     "Acme Robotics' organization admin: all of Acme's logs, within its plan"),
]
# The console role (a Django group, see accounts.roles) each demo login gets, when the group
# exists. The generated users get the default role. A user who already holds any role keeps it.
ROLE_GROUPS = {"admin": "Administrator", "auditor": "Auditor", "support": "Support",
               "finance": "Finance", "member": "Member"}
DEMO_USER_PASSWORD = "demo-password-123"  # the 50 generated users (alice.rossi, ...)
DEMO_USER_COUNT = 50

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
    ("wayne", "Wayne Biotech"), ("tyrell", "Tyrell Systems"),
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


# --- Helpers ---------------------------------------------------------------------------------

def cum(weights):
    """Running totals of `weights`, for bisect.bisect(totals, rng.random() * totals[-1])."""
    total, out = 0.0, []
    for w in weights:
        total += w
        out.append(total)
    return out


def price_str(units_e10):
    return format(Decimal(units_e10).scaleb(-10).normalize(), "f")


def fmt8(units_e8):
    """An amount held in 1e-8 USD as a decimal string with 8 places."""
    return f"{units_e8 // 100_000_000}.{units_e8 % 100_000_000:08d}"


def fmt4(units_e4):
    return f"{units_e4 // 10_000}.{units_e4 % 10_000:04d}"


def hash_int(text):
    return int(hashlib.sha256(text.encode()).hexdigest()[:8], 16)


def dt(epoch):
    return datetime.fromtimestamp(epoch, tz=UTC)


def req_id(rng):
    return f"req_{rng.getrandbits(96):024x}"


def hexid(rng, prefix, bits=48):
    return f"{prefix}{rng.getrandbits(bits):0{bits // 4}x}"


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
            self.cum[tz_name] = cum(weights)

    def sample(self, rng, tz_name, lo=0.0, hi=1.0):
        """A timestamp (epoch seconds) following the traffic rhythm of `tz_name`.

        `lo`/`hi` restrict it to a slice of the window's traffic (0..1), so rows can be
        generated in time order, one slice per chunk.
        """
        totals = self.cum[tz_name]
        i = bisect.bisect(totals, (lo + rng.random() * (hi - lo)) * totals[-1])
        return min(self.t0 + (i + rng.random()) * 3600.0, self.t_end - 0.001)

    def uniform(self, rng):
        return self.t0 + rng.random() * (self.t_end - self.t0 - 1)


# --- The gateway's catalog: platform models, prices, channels, the apps behind the keys -----

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
            price_str(p) for p in (self.p_in, self.p_out, self.p_cached, self.p_call)
        )
        self.billing_mode = "per_call" if self.call_price else "per_token"
        self.has_cache = self.cached_price is not None
        self._channel_cum = cum([c.weight for c in self.channels])
        self._protocol_names = [p for p, _ in self.protocols]
        self._protocol_cum = cum([w for _, w in self.protocols])


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
RAG_RETRIEVAL_STR = price_str(RAG_RETRIEVAL_E10)

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
    organization_id: str = ""  # the public id of their organization (demo.organizations)

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
    organization_id: str = ""  # the key's project's, as ingestion fills them
    project_id: str = ""


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


# The services that report the demo's rows, each with its own ingest key (fixed public ids,
# so their rows name them across runs; their secrets are random and shown to nobody).
GATEWAY = ("lc_gateway01", "api-gateway", ["auth", "system", "usage"])
MEMORY_SERVICE = ("lc_memsvc001", "memory-extractor", ["audit"])


def ensure_service_keys(admin):
    """The demo's ingest keys, owned by the administrator."""
    for prefix, name, kinds in (GATEWAY, MEMORY_SERVICE):
        if not ApiKey.objects.filter(prefix=prefix).exists():
            ApiKey.objects.create(owner=admin, name=name, prefix=prefix,
                                  secret_hash=ApiKey.hash_secret(secrets.token_urlsafe(32)),
                                  scopes=["ingest"], kinds=kinds, group="default")


def ensure_keys(rng, people, now):
    """1-3 keys per person, created only for people without keys; returns created count."""
    created = 0
    for person in people:
        existing = list(ApiKey.objects.filter(owner=person.user)
                        .select_related("project__organization").order_by("pk"))
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
            existing = list(ApiKey.objects.filter(owner=person.user)
                            .select_related("project__organization").order_by("pk"))
        person.keys = existing
    return created


def key_infos(rng, people):
    """How each person's keys call the gateway (app, addresses, SDK, endpoint mix, favourite
    model): one KeyInfo per key, as the rows of every kind name it."""
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
                endpoint_cum=cum(mix), favourite=rng.choice(chat_routes),
                revoked_at=key.revoked_at.timestamp() if key.revoked_at else None,
            )
            info.sid = key.prefix  # keys are known by their public prefix everywhere
            if key.project is not None:
                info.project_id = key.project.public_id
                info.organization_id = key.project.organization.public_id
            info.meta_prefix = f'{{"app": "{app}", "env": "{env}", "trace": '
            infos.append(info)
    return infos


