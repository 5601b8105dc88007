"""Hypothesis: any JSON value for any field of any kind is either stored, and reads back on
the API, the pages and the exports, or rejected with its field named. Never an exception,
never a poisoned row."""

import json
import uuid
from datetime import datetime

import pytest
from django.db import models
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import event as note_event
from hypothesis import strategies as st
from rest_framework.test import APIClient

from accounts.models import ApiKey
from logcenter.exports import jobs as exports
from logcenter.ingest.ingestion import InvalidEvent, label, loads, nests_deeper_than, schema_for
from logcenter.models import ExportJob
from logcenter.core.registry import registry
from tests.factories import StaffFactory

KINDS = list(registry)
REQUIRED = {"audit": {"action": "user.updated"}, "usage": {"platform_model": "gpt-4o"},
            "auth": {"event": "login.succeeded"}, "system": {"source": "svc", "event": "e"}}
for _kind in KINDS:  # any other kind: its text fields without a default, given a word
    REQUIRED.setdefault(_kind.slug, {
        f.name: "x" for f in _kind.model._meta.concrete_fields
        if isinstance(f, models.CharField) and not f.blank and not f.has_default()})
FIELDS = {kind.slug: sorted(schema_for(kind).validators) for kind in KINDS}
EXAMPLES = settings(max_examples=100, deadline=None, database=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture,
                                           HealthCheck.too_slow])

any_text = st.text(st.characters(exclude_categories=()), max_size=12)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | any_text
    | st.integers(min_value=-(10 ** 60), max_value=10 ** 60),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(any_text, inner, max_size=3),
    max_leaves=8)


def nested(depth, leaf=1):
    for _ in range(depth):
        leaf = [leaf]
    return leaf


# Values that sit on (or just past) a bound of some field type; valid ones too, so that
# rows are stored and read back.
EDGES = [
    "2026-11-20T10:00:00Z", "2000-01-01T00:00:00Z", "1999-12-31T23:59:59Z",
    "0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-14:00", "2026-11-20T10:00:00",
    1700000000, 1e300, -1, 0, 2 ** 31 - 1, 2 ** 31, 2 ** 63, -(2 ** 63) - 1, 10 ** 12,
    "0.5", "1e-99999999", "-1e999999", "1e309", "999999.99999999", "NaN", "Infinity",
    float("nan"), float("inf"), "fe80::1%eth0", "::ffff:192.0.2.1", "203.0.113.9", "",
    "\x00", "\ud800", "x" * 70_000, "\r\n\x1b[31m", "=HYPERLINK(\"x\")", "success", "error",
    "chat", "per_call", "warning", str(uuid.UUID(int=7)), True, False, None,
    {"env": "prod", "n": 1.5, "ok": True}, {"env": None}, {"bad key": 1}, {"\ud800": 1},
    {"a\x00": "b"}, [{"name": "input", "amount": "0.1"}], [float("nan")], nested(32),
    nested(33), {"before": {"x": 1}, "after": {"x": "\x00"}}, [], {},
]
# Text any field may hold: every plane, controls, markup, no NUL or unpaired surrogate.
fair_text = st.text(st.characters(exclude_categories=("Cs",), exclude_characters="\x00"))
fair_scalars = fair_text | st.booleans() | st.integers() | st.floats(allow_nan=False,
                                                                     allow_infinity=False)


def plausible(model_field):
    """Values of the field's own type (so that many examples are stored), hostile within it."""
    from django.db import models

    if model_field.name == "metadata":
        return st.dictionaries(st.from_regex(r"[A-Za-z0-9_]{1,64}", fullmatch=True),
                               fair_scalars, max_size=4)
    if model_field.choices:
        return st.sampled_from([str(value) for value, _ in model_field.choices])
    if isinstance(model_field, models.DateTimeField):
        return (st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2026, 11, 1),
                             timezones=st.timezones()).map(lambda d: d.isoformat())
                | st.integers(946684800, 1790000000))
    if isinstance(model_field, models.UUIDField):
        return st.uuids().map(str)
    if isinstance(model_field, models.GenericIPAddressField):
        return st.ip_addresses().map(str)
    if isinstance(model_field, models.BooleanField):
        return st.booleans()
    if isinstance(model_field, models.DecimalField):
        return st.decimals(0, 999999, places=model_field.decimal_places).map(str)
    if isinstance(model_field, (models.IntegerField, models.BigIntegerField)):
        return st.integers(0, 2 ** 30)
    if isinstance(model_field, models.JSONField):
        return st.recursive(fair_scalars | st.none(), lambda inner: st.lists(inner, max_size=3)
                            | st.dictionaries(fair_text, inner, max_size=3), max_leaves=8)
    return st.text(fair_text.filter(bool).map(lambda t: t[0]) | st.sampled_from("<>&\"'{}%="),
                   max_size=min(model_field.max_length or 200, 60))


def value_for(kind, name):
    try:
        own = plausible(kind.model._meta.get_field(name))
    except Exception:  # not a field of this kind
        own = st.nothing()
    return st.one_of(*[own] * 6, st.sampled_from(EDGES), json_values)


@st.composite
def events(draw):
    kind = draw(st.sampled_from(KINDS))
    names = draw(st.lists(st.sampled_from([*FIELDS[kind.slug], "kind", "colour", "\ud800\x00"]),
                          min_size=1, max_size=3, unique=True))
    changes = {name: draw(value_for(kind, name)) for name in names}
    item = {"kind": kind.slug, "event_id": str(uuid.uuid4()), **REQUIRED[kind.slug], **changes}
    return kind, item, set(changes)


def named(error_field, changed):
    """Whether a rejection names a field the example changed (or a part of it)."""
    if error_field in {label(name) for name in changed}:
        return True
    if error_field.startswith("metadata.") and "metadata" in changed:
        return True
    return error_field == "total_tokens" and bool({"prompt_tokens", "completion_tokens"} & changed)


@EXAMPLES
@given(events())
def test_the_validator_stores_or_names_the_field(event):
    """Without the database: clean() returns values or an InvalidEvent naming what changed."""
    kind, item, changed = event
    text = json.dumps(item)  # NaN and Infinity as the JavaScript words, surrogates escaped
    try:
        schema_for(kind).clean({k: v for k, v in loads(text).items() if k != "kind"},
                               timezone.now())
    except InvalidEvent as error:
        assert error.errors and all(named(e.field, changed) for e in error.errors), error.errors


@pytest.fixture
def console(db):
    owner = StaffFactory(username="fuzz-gateway")
    _, secret = ApiKey.generate(owner=owner, name="fuzz", scopes=["ingest"],
                        kinds=[kind.slug for kind in KINDS])
    sender = APIClient()
    sender.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
    reader = APIClient()
    reader.force_login(owner)
    return owner, sender, reader


def numbers_as_floats(value):
    """JSON as the database keeps it: a number is a number (PostgreSQL's jsonb writes
    3.441146425657231e+16 back as 34411464256572310)."""
    if isinstance(value, dict):
        return {k: numbers_as_floats(v) for k, v in value.items()}
    if isinstance(value, list):
        return [numbers_as_floats(v) for v in value]
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    return value


@EXAMPLES
@given(event=events())
def test_any_value_is_stored_and_read_back_or_rejected_by_name(console, event):
    owner, sender, reader = console
    kind, item, changed = event
    response = sender.generic("POST", "/api/v1/ingest/", json.dumps([item]),
                              content_type="application/json")
    assert response.status_code == 200, response.content[:300]
    body = response.json()
    assert body["accepted"] + body["duplicates"] + body["rejected"] == 1
    note_event("rejected" if body["rejected"] else "stored")
    if body["rejected"]:
        assert body["errors"] and all(named(e["field"], changed) for e in body["errors"])
        return
    event_id = body["event_ids"][0]
    detail = reader.get(f"/api/v1/{kind.api_name}/{event_id}/")
    assert detail.status_code == 200
    row = detail.json()
    for name in (changed & set(row)) if body["accepted"] else ():  # not a duplicate
        sent = item[name]
        if isinstance(sent, str) and kind.model._meta.get_field(name).get_internal_type() in (
                "CharField", "TextField"):
            assert row[name] == sent  # text comes back as sent, control characters and all
        elif isinstance(sent, (dict, list)) and sent:
            assert numbers_as_floats(row[name]) == numbers_as_floats(sent)
    assert reader.get(f"/api/v1/{kind.api_name}/?range=all").status_code == 200
    assert reader.get(f"/logs/{kind.slug}/{event_id}/").status_code == 200


@settings(max_examples=40, deadline=None, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(batch=st.lists(events(), min_size=2, max_size=6))
def test_stored_rows_keep_every_page_and_export_working(console, batch):
    """A batch of fuzzed events; whatever was stored, every list page and every export
    format still works (a poisoned row would break them for every viewer)."""
    owner, sender, reader = console
    items = [item for _, item, _ in batch]
    body = sender.generic("POST", "/api/v1/ingest/", json.dumps(items),
                          content_type="application/json").json()
    assert body["accepted"] + body["duplicates"] + body["rejected"] == len(items)
    stored = {kind.slug for (kind, _, _), event_id in zip(batch, body["event_ids"]) if event_id}
    for slug in stored:
        assert reader.get(f"/logs/{slug}/?range=all").status_code == 200
        for fmt in ("csv", "json"):
            job = exports.export_create(user=owner, kind_slug=slug, fmt=fmt,
                                        params={"range": "all"})
            job.refresh_from_db()
            assert job.status == ExportJob.Status.COMPLETED, job.error


def depth(value):
    if isinstance(value, list):
        return 1 + max(map(depth, value), default=0)
    if isinstance(value, dict):
        return 1 + max(map(depth, value.values()), default=0)
    return 0


@settings(max_examples=200, deadline=None, database=None)
@given(value=st.recursive(any_text | st.integers(),
                          lambda inner: st.lists(inner, max_size=3)
                          | st.dictionaries(any_text, inner, max_size=2), max_leaves=30),
       limit=st.integers(min_value=0, max_value=8))
def test_the_depth_check_agrees_with_the_parser(value, limit):
    """nests_deeper_than reads the depth without parsing; brackets and quotes inside strings
    (escaped or not) do not count."""
    text = json.dumps(value, ensure_ascii=False)
    assert nests_deeper_than(text, limit) == (depth(value) > limit)
