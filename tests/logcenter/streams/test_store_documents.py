"""The event documents PostgreSQL writes as JSON (engines/postgres/stream_documents) are
the documents the Python builder makes (streams.documents.DocumentBuilder), for every
kind, field rule and awkward value, and every destination type sends the same either way;
every kind's usual field rules take that path; and a read ahead is used only for exactly
the read it was made for."""

from datetime import datetime
from datetime import timezone as dt_timezone
from decimal import Decimal
from zoneinfo import ZoneInfo

import orjson
import pytest
from django.db import connection
from django.db.models import JSONField, Value
from django.utils import timezone

from logcenter.core import units
from logcenter.core.registry import registry
from logcenter.engines import engine_for
from logcenter.engines.postgres import stream_documents
from logcenter.models import SystemEvent
from logcenter.streams import documents
from tests.factories import FACTORIES

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]

ODD_TEXT = 'Zoë "the" O\'Brien \\ 東京 😀 50% \n\t\x01 · end'

# The envelope's awkward values, stored once for every kind.
ENVELOPES = [
    {},
    {"ip": None, "user_agent": "", "request_id": "", "actor_name": ODD_TEXT, "metadata": {},
     "organization_id": "org_1", "project_id": "prj_1"},
    {"ip": "2001:db8::1", "user_agent": ODD_TEXT, "actor_type": "api_key",
     "metadata": {"nested": {"list": [1, 2.5, None, True, "x"]}, "ü": "\u2028",
                  "big": 12345678901234567, "float": 1.10, "": ""}},
    {"ip": "10.0.0.1", "metadata": "", "actor_id": ""},
    {"metadata": [], "occurred_at": datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt_timezone.utc)},
    {"metadata": Value(None, JSONField()),  # JSON null
     "occurred_at": timezone.now().astimezone(ZoneInfo("Asia/Kolkata")).replace(
         microsecond=120000)},
]

# Each kind's own awkward values (a kind not named here gets the envelope's only).
OWN = {
    "audit": [
        {"action": "", "category": "", "resource_name": "", "changes": {}, "details": {}},
        {"result": "failure", "reason": ODD_TEXT, "category": "", "details": {"k": ODD_TEXT}},
        {"action": "user.role.changed", "resource_type": "", "resource_id": ""},
    ],
    "usage": [
        {"cost": Decimal(0), "total_tokens": 0, "first_token_ms": None, "latency_ms": 0},
        {"cost": Decimal("0.00000001"), "status": "error", "error_code": "rate_limited",
         "error_message": ODD_TEXT, "first_token_ms": 123, "is_stream": True},
        {"cost": Decimal("0.00012345"), "credits": Decimal("12.3456"), "quota": 10**12},
        {"cost": Decimal("1234567.12345678"), "credits": Decimal("1234567.5"),
         "latency_ms": 1234567, "billing_items": [{"sku": "in", "amount": "0.1"}]},
        {"cost": Decimal("0.00099999"), "platform_model": "", "error_code": "",
         "endpoint": "embeddings", "billing_items": []},
        {"cost": Decimal("-0.5"), "credits": Decimal("-3.1"), "quota": -7, "error_message": "",
         "platform_model": ODD_TEXT},
    ],
    "auth": [
        {"event": "login.failed", "result": "failure", "failure_reason": "bad_password"},
        {"username_attempted": "", "user_id": "", "identity_provider": ODD_TEXT},
        {"event": "", "failure_reason": ODD_TEXT},
    ],
    "system": [
        *({"level": level} for level in SystemEvent.Level.values),
        {"level": "notice", "source": "a.b", "event": "", "message": ODD_TEXT, "details": {}},
        {"message": "", "resource_id": "", "details": {"list": [ODD_TEXT]}},
    ],
}


def _store_rows():
    for slug in FACTORIES:
        for values in [*ENVELOPES, *OWN.get(slug, [])]:
            FACTORIES[slug](**values)


def _rules(kind):
    """The field rules a destination can have ((masked, hidden)), and one masking every
    field it can (every type's masked form)."""
    sensitive = frozenset(kind.sensitive_fields)
    cost = frozenset(kind.cost_fields)
    with_units = {name for name in kind.units}  # masked with a unit: the Python path's
    everything = frozenset(f.name for f in kind.model._meta.concrete_fields
                           if f.name != "id" and f.name not in with_units)
    return [(frozenset(), frozenset()), (sensitive, frozenset()),
            (sensitive - set(kind.owner_visible_fields), frozenset()), (sensitive, cost),
            (everything, frozenset()), (everything - cost, cost)]


def _as_sent(document):
    return orjson.loads(orjson.dumps(document))


def test_documents_built_in_postgresql_are_the_python_builders():
    _store_rows()
    for kind in registry:
        queryset = kind.model.objects.all()
        total = queryset.count()
        assert total >= len(ENVELOPES)
        for masked, hidden in _rules(kind):
            rows = engine_for(kind).stream_documents(kind, masked, hidden)
            assert rows is not None, (kind.slug, masked, hidden)
            store = documents.StoreDocuments(rows)
            python = documents.DocumentBuilder(kind, masked, hidden)
            from_store = store.read(queryset, 0, 2**62, total)
            from_python = python.read(queryset, 0, 2**62, total)
            assert len(from_store) == len(from_python) == total
            for values, expected in zip(from_store, from_python):
                assert values[0] == expected[0]  # the id
                assert values[store.ingested_at] == expected[python.ingested_at]
                assert _as_sent(store.build(values)) == _as_sent(python.build(expected)), (
                    kind.slug, masked, hidden)


def test_the_head_is_parsed_and_the_record_sent_as_written():
    row = FACTORIES["usage"](metadata={"a": [1, {"b": ODD_TEXT}]})
    kind = registry["usage"]
    store = documents.document_reader(kind)
    assert isinstance(store, documents.StoreDocuments)
    values = store.read(kind.model.objects.filter(pk=row.pk), 0, 2**62, 10)
    document = store.build(values[0])
    assert isinstance(document["record"], orjson.Fragment)
    assert list(document) == list(_as_sent(documents.event_document(kind, row)))
    sent = orjson.dumps(document)
    assert values[0][3].encode() in sent  # the record as PostgreSQL wrote it


def test_only_the_rows_asked_for_in_id_order():
    _store_rows()
    kind = registry["audit"]
    first, *rest = kind.model.objects.order_by("id").values_list("id", flat=True)
    store = documents.document_reader(kind)
    read = store.read(kind.model.objects.all(), first, 2**62, 3)
    assert [values[0] for values in read] == rest[:3]
    read = store.read(kind.model.objects.all(), first, rest[3], 10)
    assert [values[0] for values in read] == rest[:4]


def _counting_reads_ahead(monkeypatch):
    """{"started": …, "taken": …}: reads ahead started, and taken by the read after."""
    counts = {"started": 0, "taken": 0}
    start, take = stream_documents._ReadAhead.start, stream_documents._ReadAhead.take

    def counted_start(self, statement):
        counts["started"] += 1
        return start(self, statement)

    def counted_take(self, statement):
        found = take(self, statement)
        counts["taken"] += found is not None
        return found

    monkeypatch.setattr(stream_documents._ReadAhead, "start", counted_start)
    monkeypatch.setattr(stream_documents._ReadAhead, "take", counted_take)
    return counts


def test_a_full_read_of_one_kind_reads_the_next_span_ahead(monkeypatch):
    counts = _counting_reads_ahead(monkeypatch)
    kind = registry["usage"]
    rows = [FACTORIES["usage"]() for _ in range(12)]
    ids = [row.pk for row in rows]
    store = documents.document_reader(kind)
    queryset = kind.model.objects.all()
    start = ids[0] - 1
    first = store.read(queryset, start, start + 100, 4)
    assert counts["started"] == 0  # one read says nothing of the next
    second = store.read(queryset, ids[3], ids[3] + 100, 4)
    assert counts["started"] == 1
    # The next batch, as the stream asks for it: taken from the read ahead.
    third = store.read(queryset, ids[7], ids[7] + 100, 4)
    assert counts["taken"] == 1
    assert [v[0] for v in first + second + third] == ids
    # Another span than the one read ahead: read as asked, the read ahead dropped.
    again = store.read(queryset, ids[1], ids[1] + 100, 4)
    assert counts["taken"] == 1 and [v[0] for v in again] == ids[2:6]
    python = documents.DocumentBuilder(kind)
    assert ([_as_sent(store.build(v)) for v in third]
            == [_as_sent(python.build(v)) for v in python.read(queryset, ids[7], 2**62, 4)])


def test_a_read_ahead_meets_the_rows_as_the_worker_left_them(monkeypatch):
    counts = _counting_reads_ahead(monkeypatch)
    kind = registry["usage"]
    ids = [FACTORIES["usage"]().pk for _ in range(8)]
    store = documents.document_reader(kind)
    queryset = kind.model.objects.all()
    store.read(queryset, ids[0] - 1, ids[0] + 100, 2)
    store.read(queryset, ids[1], ids[1] + 100, 2)  # reads ids[3:5] ahead, in a thread
    # The worker's own statements meanwhile wait for it (psycopg's lock), then run.
    assert kind.model.objects.filter(pk__in=ids).count() == 8
    assert [v[0] for v in store.read(queryset, ids[3], ids[3] + 100, 2)] == ids[4:6]
    assert counts == {"started": 2, "taken": 1}


def test_reads_of_two_kinds_taking_turns_are_not_read_ahead(monkeypatch):
    counts = _counting_reads_ahead(monkeypatch)
    usage, audit = registry["usage"], registry["audit"]
    ids = [FACTORIES["usage"]().pk for _ in range(9)]
    audit_id = FACTORIES["audit"]().pk
    usages, audits = documents.document_reader(usage), documents.document_reader(audit)
    for after in ids[0:9:3]:  # a full read of usage, then audit's few rows, batch after batch
        assert len(usages.read(usage.model.objects.all(), after - 1, after + 100, 3)) == 3
        audits.read(audit.model.objects.all(), audit_id - 1, audit_id + 100, 3)
    assert counts["started"] == 0


def test_a_stream_of_one_kind_delivers_every_row_once_in_order_reading_ahead(
        make_destination, httpserver, monkeypatch):
    from logcenter.streams import delivery
    from tests.logcenter.streams.receivers import WebhookReceiver

    counts = _counting_reads_ahead(monkeypatch)
    secret = "a-webhook-secret-of-32-characters"
    hook = WebhookReceiver(httpserver, secret)
    destination = make_destination("webhook", hook.url, {"secret": secret}, kinds=["usage"],
                                   batch_size=3)
    rows = [FACTORIES["usage"]() for _ in range(40)]
    result = delivery.pump(destination.pk)
    assert result.error == "" and result.delivered == 40
    assert hook.event_ids == [str(row.event_id) for row in rows]
    assert counts["taken"] >= 5


def test_every_kind_takes_the_store_path_for_the_rules_a_destination_can_have():
    for kind in registry:
        for masked, hidden in _rules(kind)[:4]:
            assert isinstance(documents.document_reader(kind, masked, hidden),
                              documents.StoreDocuments), (kind.slug, masked, hidden)


def test_what_sql_cannot_write_exactly_is_left_to_python():
    kind = registry["usage"]
    # A summary field with a unit, masked: Python writes what its unit makes of "[masked]".
    assert engine_for(kind).stream_documents(kind, frozenset({"cost"}), frozenset()) is None
    assert isinstance(documents.document_reader(kind, {"cost"}), documents.DocumentBuilder)


UNIT_VALUES = {
    "money": ["0", "0.00000001", "0.0000005", "0.00000999", "0.00012345", "0.0012345",
              "0.00049999", "0.00099995", "0.5", "1234567.12345678", "99999.99995", "-0.5",
              "-0.00001234", "1000", "0.001", "0.0001", "0.00001", "0.000001"],
    "credits": ["0", "12.5", "12.3456", "1234567.89", "-3.1", "0.0001", "1000000"],
    "quota": [0, 7, 999, 1000, -1234567, 10**15],
    "ms": [0, 999, 1000, 123456789],
    "stream": [True, False],
}


def test_every_unit_reads_in_sql_as_in_python():
    assert set(units.PLAIN_FORMATS) <= set(stream_documents.UNITS)
    assert set(units.PLAIN_FORMATS) <= set(UNIT_VALUES)
    checked = set()
    for kind in registry:
        for name, unit in kind.units.items():
            field = kind.model._meta.get_field(name)
            sql_type = field.db_type(connection)
            expression = stream_documents.UNITS[unit](field, "lc.v")
            for value in UNIT_VALUES[unit]:
                if isinstance(value, str):
                    value = Decimal(value)
                    if -value.as_tuple().exponent > field.decimal_places:
                        continue
                with connection.cursor() as cursor:
                    cursor.execute(f"SELECT {expression} FROM (SELECT %s::{sql_type} AS v) lc",
                                   [value])
                    written = cursor.fetchone()[0]
                assert written == units.display(unit, value, plain=True), (name, value)
            checked.add(unit)
    assert checked == set(units.PLAIN_FORMATS)  # every unit is used by some kind's field
    # Money below its last place (more places than a cost column holds).
    field = registry["usage"].model._meta.get_field("cost")
    expression = stream_documents.UNITS["money"](field, "lc.v")
    for value in ("0.000000004", "-0.000000004", "0.000000005", "0.0000000149"):
        with connection.cursor() as cursor:
            cursor.execute(f"SELECT {expression} FROM (SELECT %s::numeric AS v) lc",
                           [Decimal(value)])
            written = cursor.fetchone()[0]
        assert written == units.display("money", Decimal(value), plain=True), value


# Each type as configured for the comparison below: (endpoint, options, credentials).
TYPES = {
    "splunk_hec": ("https://splunk.example.com:8088", {"index": "security"},
                   {"token": "6f1e1c4a-2b7d-4f4e-9a55-0c1d2e3f4a5b"}),
    "elasticsearch": ("https://es.example.com:9200", {}, {}),
    "datadog": ("", {"tags": "env:test"}, {"api_key": "0123456789abcdef0123"}),
    "cloudwatch": ("/logcenter/audit", {"region": "eu-west-1"}, {}),
    "webhook": ("https://hooks.example.com/logcenter", {}, {"secret": "s" * 32}),
    "s3": ("s3://acme-logs/logcenter/", {}, {}),
}


def _sent(type_, documents_sent, monkeypatch):
    """What a destination of `type_` sends for `documents_sent`: each request's body (or
    CloudWatch's events, S3's objects), parsed, JSON held in strings parsed too."""
    import gzip

    from logcenter.streams.models import Destination
    from logcenter.streams.protocols import base, cloudwatch, protocol_for, s3

    bodies = []

    def post(self, url, body, headers, ok=range(200, 300)):
        bodies.append(body)
        count = body.count(b"\n") // 2
        answer = {"items": [{"create": {"status": 201}}] * count, "text": "Success"}
        return base.Response(200, {}, orjson.dumps(answer))

    class Client:
        def put_object(self, Body, Key, **more):
            bodies.append(Body)

    monkeypatch.setattr(base.Protocol, "post", post)
    monkeypatch.setattr(cloudwatch.CloudWatchLogs, "put",
                        lambda self, events: bodies.append(orjson.dumps(events)) or {})
    monkeypatch.setattr(s3.S3Objects, "client", lambda self: Client())
    endpoint, options, credentials = TYPES[type_]
    destination = Destination(type=type_, endpoint=endpoint, options=options,
                              kinds=list(FACTORIES), cursor={"audit": 1},
                              public_id="dst_0123456789abcdef")
    protocol_for(destination, credentials).send(documents_sent)
    return [_parsed(gzip.decompress(body) if body[:2] == b"\x1f\x8b" else body)
            for body in bodies]


def _parsed(data):
    """JSON values one after the other (one document, NDJSON or concatenated objects),
    with JSON text in a string ("message") parsed as well."""
    import json

    decoder, text, values, at = json.JSONDecoder(), data.decode(), [], 0
    while at < len(text):
        if text[at].isspace():
            at += 1
            continue
        value, at = decoder.raw_decode(text, at)
        values.append(value)
    return _inner(values)


def _inner(value):
    if isinstance(value, dict):
        return {key: _inner(orjson.loads(item) if key == "message" and isinstance(item, str)
                            and item.startswith("{") else item) for key, item in value.items()}
    if isinstance(value, list):
        return [_inner(item) for item in value]
    return value


@pytest.mark.parametrize("type_", sorted(TYPES))
def test_every_type_sends_the_same_either_way(type_, monkeypatch):
    from logcenter.streams.protocols import CLASSES

    assert set(TYPES) == set(CLASSES)
    _store_rows()
    built = {"store": [], "python": []}
    for kind in registry:
        masked, hidden = frozenset(kind.sensitive_fields), frozenset(kind.cost_fields)
        store = documents.StoreDocuments(engine_for(kind).stream_documents(kind, masked,
                                                                            hidden))
        python = documents.DocumentBuilder(kind, masked, hidden)
        rows = kind.model.objects.all()
        built["store"] += [store.build(v) for v in store.read(rows, 0, 2**62, 1000)]
        built["python"] += [python.build(v) for v in python.read(rows, 0, 2**62, 1000)]
    from_store = _sent(type_, built["store"], monkeypatch)
    from_python = _sent(type_, built["python"], monkeypatch)
    assert from_store and from_store == from_python
