"""Usage rows: the gateway's calls, billed per token or per call.

`UsageMaker.row()` makes one row as a tuple in USAGE_FIELDS order (JSON and decimals as
text): the 30-day demo turns them into models (`to_usage_model`), the bulk loader
(demo.bulk) hands them to the storage engine as they are. The 30-day demo adds two stories
the other kinds tell too: an Anthropic outage nine days ago, and a runaway batch script
hammering one key into its rate limit.
"""

import bisect
import json
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal


from demo.builder import generates
from demo.common import (
    ENDPOINTS, GATEWAY, GROUP_RPM, RAG_MODELS, RAG_RETRIEVAL_E10, RAG_RETRIEVAL_STR, ROUTES,
    ROUTES_BY_NAME, SDK_UAS, cum, dt, fmt4, fmt8,
)
from demo.factories import build_row

ERROR_CODES = [
    ("upstream_timeout", 30), ("rate_limited", 28), ("upstream_error", 15),
    ("context_length_exceeded", 10), ("invalid_request", 12), ("content_filtered", 5),
]
_ERROR_NAMES = [c for c, _ in ERROR_CODES]
_ERROR_CUM = cum([w for _, w in ERROR_CODES])
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


USAGE_FIELDS = (
    "event_id", "occurred_at", "ingested_at", "actor_type", "actor_id", "actor_name", "ip",
    "user_agent", "request_id", "metadata", "user_id", "username", "api_key_id", "api_key_name",
    "group", "endpoint", "platform_model", "upstream_model", "upstream_name", "channel_id",
    "binding_code", "protocol", "billing_mode", "prompt_tokens", "completion_tokens",
    "cached_tokens", "total_tokens", "cost", "quota", "credits", "billing_items", "latency_ms",
    "first_token_ms", "is_stream", "call_count", "status", "error_code", "error_message",
    "ingested_by", "ingested_by_name", "organization_id", "project_id",
)


@dataclass
class Incident:
    """A window in which one upstream times out or fails most calls."""

    start: float
    end: float
    upstreams: tuple
    rate: float = 0.7


class UsageMaker:
    """Builds usage rows as tuples in USAGE_FIELDS order, JSON and decimals as strings.

    The same tuples feed the bulk loader directly and, after `to_usage_model`, the
    30-day demo.
    """

    def __init__(self, rng, keys, clock, incidents=()):
        self.rng = rng
        self.keys = keys
        self.clock = clock
        self.incidents = list(incidents)
        self.key_cum = cum([k.person.weight / len(k.person.keys) for k in keys])
        self.active_keys = {}
        for k in keys:
            self.active_keys.setdefault(k.person.user.pk, []).append(k)
        by_endpoint = {}
        for r in ROUTES:
            by_endpoint.setdefault(r.endpoint, []).append(r)
        self.endpoint_routes = {e: (rs, cum([r.weight for r in rs])) for e, rs in
                                by_endpoint.items()}
        rag = [ROUTES_BY_NAME[m] for m in RAG_MODELS]
        self.endpoint_routes["rag.query"] = (rag, cum([6, 4, 3, 1, 2, 1]))

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
        routes, totals = self.endpoint_routes[endpoint]
        if endpoint == "chat" and rnd() < 0.5:
            route = ROUTES_BY_NAME[key.favourite]
        else:
            route = routes[bisect.bisect(totals, rnd() * totals[-1])]
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
            GATEWAY[0], GATEWAY[1], key.organization_id, key.project_id,
        )


def to_usage_model(row):
    values = dict(zip(USAGE_FIELDS, row))
    values["metadata"] = json.loads(values["metadata"])
    values["billing_items"] = json.loads(values["billing_items"])
    values["cost"] = Decimal(values["cost"])
    values["credits"] = Decimal(values["credits"])
    return build_row("usage", **values)


@generates("usage", count=20_000)
def generate(builder):
    rng, clock, keys = builder.rng, builder.clock, builder.keys
    t0 = clock.t0
    # An Anthropic outage nine days ago, 45 minutes at 14:10 UTC.
    day = (builder.now - timedelta(days=9)).replace(hour=14, minute=10, second=0, microsecond=0)
    outage = builder.stories["outage"] = Incident(day.timestamp(), day.timestamp() + 45 * 60,
                                                  ("anthropic",))
    maker = UsageMaker(rng, keys, clock, [outage])
    target = builder.counts["usage"]
    # A runaway batch script hammers one key into its rate limit for twenty minutes.
    runaway_key = max((k for k in keys if k.env == "staging"),
                      key=lambda k: k.person.weight, default=keys[0])
    runaway = builder.stories["runaway"] = (runaway_key, t0 + 19.6 * 86400)
    runaway_rows = min(300, target // 20)
    rows = []
    for _ in range(runaway_rows):
        ts = runaway[1] + rng.random() * 1200
        rows.append(maker.row(None, key=runaway_key, ts=ts, endpoint="chat",
                              force_error="rate_limited" if rng.random() < 0.8 else None))
    while len(rows) < target:
        rows.append(maker.row(None))
    return [to_usage_model(r) for r in rows]
