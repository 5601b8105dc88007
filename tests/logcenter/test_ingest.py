"""POST /api/v1/ingest/: auth, limits, validation, idempotency, mixed batches."""

import json
import uuid
from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from accounts.models import ApiKey
from logcenter.models import AuditEvent, SystemEvent, UsageRecord
from tests.factories import StaffFactory

pytestmark = pytest.mark.django_db
URL = "/api/v1/ingest/"


@pytest.fixture
def ingest_client():
    owner = StaffFactory(username="gateway-svc")
    _, secret = ApiKey.generate(owner=owner, name="gateway", scopes=["ingest"],
                        kinds=["audit", "auth", "system", "usage"])
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
    return api


def usage(**extra):
    return {"kind": "usage", "event_id": str(uuid.uuid4()), "occurred_at": "2026-11-20T10:00:00Z",
            "platform_model": "gpt-4o", "username": "alice", "prompt_tokens": 100,
            "completion_tokens": 20, "cost": "0.00123", "metadata": {"env": "prod"}, **extra}


def post(api, items, content_type="application/json"):
    body = (json.dumps(items) if content_type == "application/json"
            else "\n".join(json.dumps(i) for i in items))
    return api.generic("POST", URL, body, content_type=content_type)


def test_mixed_batch_stores_the_good_and_reports_the_bad(ingest_client):
    items = [
        usage(),
        usage(prompt_tokens="many"),
        {"kind": "audit", "action": "document.write", "resource_type": "document",
         "resource_id": "doc-1", "changes": {"title": {"before": "a", "after": "b"}}},
        {"kind": "fax"},
        usage(cost="-1"),
        {"kind": "system", "source": "vectorizer", "event": "vectorize.failed", "level": "loud"},
        {"kind": "auth", "event": "login.failed", "result": "failure",
         "failure_reason": "bad_password", "username_attempted": "bob", "ip": "203.0.113.9"},
    ]
    response = post(ingest_client, items)
    assert response.status_code == 200
    body = response.json()
    assert (body["accepted"], body["duplicates"], body["rejected"]) == (3, 0, 4)
    assert [(e["index"], e["field"]) for e in body["errors"]] == [
        (1, "prompt_tokens"), (3, "kind"), (4, "cost"), (5, "level")]
    assert all(e["reason"] for e in body["errors"])
    assert body["event_ids"][0] == items[0]["event_id"] and body["event_ids"][1] is None
    stored = UsageRecord.objects.get(event_id=items[0]["event_id"])
    assert stored.total_tokens == 120 and str(stored.cost) == "0.00123000"
    assert stored.occurred_at.isoformat() == "2026-11-20T10:00:00+00:00"
    audit = AuditEvent.objects.get(action="document.write")
    assert audit.changes == {"title": {"before": "a", "after": "b"}}
    assert body["event_ids"][2] == str(audit.event_id)  # generated when not sent


def test_resending_a_batch_stores_no_duplicates(ingest_client):
    items = [usage() for _ in range(3)]
    first = post(ingest_client, items).json()
    again = post(ingest_client, items + [items[0]]).json()
    assert (first["accepted"], first["duplicates"]) == (3, 0)
    assert (again["accepted"], again["duplicates"]) == (0, 4)
    assert UsageRecord.objects.filter(event_id__in=[i["event_id"] for i in items]).count() == 3


def test_ndjson_batch(ingest_client):
    response = post(ingest_client, [usage(), usage()], content_type="application/x-ndjson")
    assert response.status_code == 200 and response.json()["accepted"] == 2


def test_malformed_json_and_ndjson_name_the_line(ingest_client):
    bad_json = ingest_client.generic("POST", URL, '[\n{"kind": "usage"},\n{oops}\n]',
                                     content_type="application/json")
    assert bad_json.status_code == 400 and "line 3" in bad_json.json()["detail"]
    lines = json.dumps(usage()) + "\n" + json.dumps(usage()) + "\n{not json\n"
    bad_nd = ingest_client.generic("POST", URL, lines, content_type="application/x-ndjson")
    assert bad_nd.status_code == 400 and "line 3" in bad_nd.json()["detail"]
    not_array = ingest_client.generic("POST", URL, '{"kind": "usage"}',
                                      content_type="application/json")
    assert not_array.status_code == 400
    assert UsageRecord.objects.count() == 0  # nothing half-written


def test_missing_auth_is_401_and_wrong_scope_is_403():
    assert APIClient().post(URL, [], format="json").status_code == 401
    owner = StaffFactory(username="reader")
    _, secret = ApiKey.generate(owner=owner, name="ro", scopes=["read"])
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
    assert api.post(URL, [usage()], format="json").status_code == 403
    session = APIClient()
    session.force_login(owner)
    assert session.post(URL, [usage()], format="json").status_code in (401, 403)


def test_oversized_bodies_are_413(ingest_client, settings):
    settings.LOGCENTER = {**settings.LOGCENTER, "INGEST_MAX_EVENTS": 3,
                          "INGEST_MAX_BYTES": 4000}
    too_many = post(ingest_client, [usage() for _ in range(4)])
    assert too_many.status_code == 413 and "At most 3 events" in too_many.json()["detail"]
    too_big = post(ingest_client, [usage(error_message="x" * 5000)])
    assert too_big.status_code == 413 and "4000 bytes" in too_big.json()["detail"]


@pytest.mark.parametrize("metadata, field", [
    ({"bad key": 1}, "metadata.bad key"),
    ({"k" * 65: 1}, "metadata." + "k" * 65),
    ({"nested": {"a": 1}}, "metadata.nested"),
    ({"list": [1]}, "metadata.list"),
    ({f"k{i}": i for i in range(51)}, "metadata"),
    ({"big": "x" * 9000}, "metadata"),
    ("not-an-object", "metadata"),
])
def test_metadata_rules(ingest_client, metadata, field):
    body = post(ingest_client, [usage(metadata=metadata)]).json()
    assert body["rejected"] == 1
    assert body["errors"][0]["field"][:80] == field[:80]


def test_field_rules(ingest_client):
    future = (timezone.now() + timedelta(minutes=10)).isoformat()
    cases = [
        usage(occurred_at=future), usage(occurred_at="yesterday"),
        usage(occurred_at="2026-11-20T10:00:00"), usage(platform_model="m" * 101),
        usage(is_stream="yes"), usage(event_id="nope"), usage(ip="300.1.1.1"),
        usage(endpoint="fax"), usage(unknown_field=1), {"kind": "usage"},
    ]
    body = post(ingest_client, cases).json()
    assert body["rejected"] == len(cases)
    assert [e["field"] for e in body["errors"]] == [
        "occurred_at", "occurred_at", "occurred_at", "platform_model", "is_stream",
        "event_id", "ip", "endpoint", "unknown_field", "platform_model"]
    assert "future" in body["errors"][0]["reason"]


def test_many_rejections_raise_a_system_warning(ingest_client, settings):
    settings.LOGCENTER = {**settings.LOGCENTER, "INGEST_REJECT_ALERT": 2}
    post(ingest_client, [usage(cost="x"), usage(cost="y"), usage()])
    warning = SystemEvent.objects.get(event="ingestion.rejected")
    assert warning.level == "warning" and warning.details["rejected"] == 2


def test_control_characters_are_stored_faithfully(ingest_client):
    hostile = "curl/8\r\nINFO forged line \x1b[31mred"
    item = usage(user_agent=hostile)
    post(ingest_client, [item])
    assert UsageRecord.objects.get(event_id=item["event_id"]).user_agent == hostile


# --- every bad field, bounds, poison, the usage ledger ---------------------------------

def post_raw(api, text, content_type="application/json"):
    return api.generic("POST", URL, text, content_type=content_type)


def event_text(**raw):
    """A usage event as JSON text, with `raw` fields spliced in verbatim (NaN, "\\ud800")."""
    text = json.dumps(usage())[:-1]
    return text + "".join(f', "{name}": {value}' for name, value in raw.items()) + "}"


def rejected_fields(body, index=0):
    return [e["field"] for e in body["errors"] if e["index"] == index]


def test_every_bad_field_of_an_event_is_reported(ingest_client):
    item = usage(prompt_tokens="many", cost="-1", ip="fe80::1%eth0", colour="red",
                 metadata={"env": None, "bad key": 1, "ok": "yes"})
    del item["platform_model"]
    body = post(ingest_client, [usage(), item, usage(endpoint="fax", is_stream="no")]).json()
    assert (body["accepted"], body["rejected"]) == (1, 2)
    assert sorted(rejected_fields(body, 1)) == sorted([
        "colour", "ip", "platform_model", "prompt_tokens", "cost", "metadata.env",
        "metadata.bad key"])
    assert sorted(rejected_fields(body, 2)) == ["endpoint", "is_stream"]
    assert all(e["reason"] for e in body["errors"])
    assert body["event_ids"][1] is None and body["event_ids"][2] is None


@pytest.mark.parametrize("value", [
    '"1999-12-31T23:59:59Z"', '"0001-01-01T00:00:00+14:00"', '"0001-01-01T00:00:00-14:00"',
    '"9999-12-31T23:59:59-14:00"', '"9999-12-31T23:59:59+14:00"', "1e300", "-1", "0",
    "946684799", "1000000000000", "NaN", "Infinity", "-Infinity", "1e999", "true", '"x" ',
    '"' + "2026-11-20T10:00:00Z" + " " * 100 + '"',
])
def test_times_outside_2000_to_now_are_refused(ingest_client, value):
    body = post_raw(ingest_client, f"[{event_text(occurred_at=value)}]").json()
    assert body["rejected"] == 1 and rejected_fields(body) == ["occurred_at"]


def test_times_at_the_bounds_are_stored(ingest_client):
    soon = (timezone.now() + timedelta(minutes=4)).timestamp()
    items = [usage(occurred_at="2000-01-01T00:00:00Z"), usage(occurred_at=946684800),
             usage(occurred_at=soon), usage(occurred_at="2026-11-20T18:00:00+08:00")]
    body = post(ingest_client, items).json()
    assert body["accepted"] == 4, body
    stored = UsageRecord.objects.get(event_id=items[3]["event_id"])
    assert stored.occurred_at.isoformat() == "2026-11-20T10:00:00+00:00"


@pytest.mark.parametrize("value", [
    '"1e-99999999"', '"-1e999999"', '"1e309"', "1e309", "-1e999999", "1e-99999999",
    '"NaN"', '"-Infinity"', '"sNaN"', "NaN", "Infinity", '"0x10"', '"1_000"', '" "',
    '"' + "9" * 41 + '"', "1" + "0" * 50, "-1", '"-0.5"', "1000000", '"1e6"', "true",
    "[1]", '{"a": 1}',
])
def test_bad_decimals_are_refused_before_any_conversion(ingest_client, value):
    body = post_raw(ingest_client, f"[{event_text(cost=value)}]").json()
    assert body["rejected"] == 1 and rejected_fields(body) == ["cost"]


def test_decimals_keep_the_text_precision(ingest_client):
    items = [usage(cost="999999.99999999"), usage(cost="1e-12"), usage(credits="12.5E+3")]
    body = post_raw(ingest_client, "[" + ", ".join(
        [json.dumps(items[0]), json.dumps(items[1]), json.dumps(items[2]),
         event_text(cost="0.1234567850000000001")]) + "]").json()
    assert body["accepted"] == 4, body
    costs = sorted(UsageRecord.objects.values_list("cost", flat=True))
    # A JSON number is rounded from its text: as a float it would be 0.123456785 and round
    # (half even) down to 0.12345678.
    assert costs == [0, Decimal("0.00123"), Decimal("0.12345679"), Decimal("999999.99999999")]
    assert str(UsageRecord.objects.get(event_id=items[2]["event_id"]).credits) == "12500.0000"


@pytest.mark.parametrize("fields, bad", [
    ({"prompt_tokens": 2 ** 31}, "prompt_tokens"),
    ({"latency_ms": -1}, "latency_ms"),
    ({"prompt_tokens": 2 ** 31 - 1, "completion_tokens": 2 ** 31 - 1}, "total_tokens"),
    ({"quota": 2 ** 31}, "quota"),  # so a rollup's bigint sum of 2**32 events cannot overflow
    ({"quota": -(2 ** 31) - 1}, "quota"),
    ({"credits": "10000000000"}, "credits"),
    ({"first_token_ms": 1.5}, "first_token_ms"),
    ({"call_count": 10 ** 60}, "call_count"),
])
def test_integers_and_sums_stay_in_their_columns(ingest_client, fields, bad):
    body = post(ingest_client, [usage(**fields)]).json()
    assert body["rejected"] == 1 and rejected_fields(body) == [bad]


def test_the_largest_allowed_values_are_stored_and_summed(ingest_client, api_client):
    items = [usage(prompt_tokens=2 ** 30, completion_tokens=2 ** 30 - 1, quota=2 ** 31 - 1,
                   cost="999999.99999999", credits="9999999999.9999") for _ in range(3)]
    assert post(ingest_client, items).json()["accepted"] == 3
    stats = api_client.get("/api/v1/usage/stats/?range=all").json()
    assert stats["quota"] == 3 * (2 ** 31 - 1) and stats["total_tokens"] == 3 * (2 ** 31 - 1)
    assert stats["cost"] == "2999999.99999997"


@pytest.mark.parametrize("field, raw", [
    ("username", '"a\\u0000b"'), ("username", '"\\ud800"'), ("error_message", '"x\\udfffy"'),
    ("platform_model", '"' + "m" * 101 + '"'), ("user_agent", '"' + "u" * 513 + '"'),
    ("error_message", '"' + "e" * (64 * 1024 + 1) + '"'), ("username", "1"),
])
def test_strings_refused_with_the_field_named(ingest_client, field, raw):
    body = post_raw(ingest_client, f"[{event_text(**{field: raw})}]").json()
    assert body["rejected"] == 1 and rejected_fields(body) == [field]


def test_long_messages_up_to_the_cap_are_stored(ingest_client):
    item = usage(error_message="e" * (64 * 1024), status="error")
    assert post(ingest_client, [item]).json()["accepted"] == 1


def test_hostile_field_names_are_echoed_safely(ingest_client):
    text = ('[{"kind": "system", "source": "s", "event": "e", "\\ud800\\u0000x": 1, '
            f'"{"k" * 500}": 2, "metadata": {{"\\ud800": 1}}}}]')
    response = post_raw(ingest_client, text)
    assert response.status_code == 200
    fields = rejected_fields(response.json())
    assert "\\ud800\\u0000x" in fields and "k" * 80 in fields and "metadata.\\ud800" in fields


@pytest.mark.parametrize("field, raw", [
    ("billing_items", '[{"amount": NaN}]'), ("billing_items", '[1e999]'),
    ("billing_items", '[{"a\\u0000": 1}]'), ("billing_items", '["\\ud83d"]'),
    ("billing_items", "[" * 33 + "]" * 33), ("billing_items", '"not a list"'),
    ("billing_items", '["' + "x" * 70000 + '"]'), ("billing_items", "[" + "1" * 60 + "]"),
])
def test_json_fields_hold_only_storable_values(ingest_client, field, raw):
    body = post_raw(ingest_client, f"[{event_text(**{field: raw})}]").json()
    assert body["rejected"] == 1 and rejected_fields(body) == [field]


def test_json_fields_32_deep_are_stored(ingest_client, api_client):
    deep = {"a": 1}
    for _ in range(31):
        deep = {"a": deep}
    item = {"kind": "system", "source": "s", "event": "e", "details": deep}
    body = post(ingest_client, [item]).json()
    assert body["accepted"] == 1, body
    detail = api_client.get(f"/api/v1/system-events/{body['event_ids'][0]}/")
    assert detail.status_code == 200 and detail.json()["details"] == deep


@pytest.mark.parametrize("text", [
    "[" * 100_000, "[" * 100_000 + "]" * 100_000, '[{"kind": "system", "details": '
    + "[" * 70 + "]" * 70 + "}]", "{" * 50_000 + "[" * 50_000,
])
@pytest.mark.parametrize("content_type", ["application/json", "application/x-ndjson"])
def test_deeply_nested_bodies_are_400_without_recursion(ingest_client, text, content_type):
    response = post_raw(ingest_client, text, content_type)
    assert response.status_code == 400
    assert "64 levels" in response.json()["detail"]


def test_metadata_null_is_refused(ingest_client):
    body = post(ingest_client, [usage(metadata={"env": None})]).json()
    assert body["rejected"] == 1 and rejected_fields(body) == ["metadata.env"]
    assert "null" in body["errors"][0]["reason"]


@pytest.mark.parametrize("ip", ["fe80::1%eth0", "fe80::1%1", "1.2.3.4%x", 3232235777, " 1.2.3.4"])
def test_addresses_must_be_storable(ingest_client, ip):
    body = post(ingest_client, [usage(ip=ip)]).json()
    assert body["rejected"] == 1 and rejected_fields(body) == ["ip"]


def test_ipv6_forms_are_stored(ingest_client, api_client):
    items = [usage(ip="::ffff:192.0.2.1"), usage(ip="2001:DB8::1"), usage(ip="")]
    assert post(ingest_client, items).json()["accepted"] == 3
    ips = {r["ip"] for r in api_client.get("/api/v1/usage-records/?range=all").json()["results"]}
    assert "2001:db8::1" in ips and None in ips


def test_unknown_query_parameters_are_400(ingest_client):
    response = ingest_client.generic("POST", URL + "?dry_run=1&kind=usage", json.dumps([usage()]),
                                     content_type="application/json")
    assert response.status_code == 400
    assert response.json() == {"unknown_parameters": ["dry_run", "kind"]}
    assert UsageRecord.objects.count() == 0


def test_one_poison_event_keeps_its_good_neighbours(ingest_client, staff_client):
    poisons = [
        event_text(details="1"), event_text(username='"\\u0000"'),
        event_text(user_agent='"\\udc00"'), event_text(billing_items='[NaN]'),
        event_text(ip='"fe80::1%eth0"'), event_text(cost='"1e-99999999"'),
        event_text(occurred_at='"0001-01-01T00:00:00+14:00"'),
        event_text(metadata='{"k": Infinity}'), event_text(quota="1" + "0" * 30),
        event_text(prompt_tokens="2147483647", completion_tokens="1"),
        '{"kind": "system", "source": "s", "event": "e", "details": {"\\u0000": 1}}',
        '{"kind": "audit", "action": "a", "changes": ' + "[" * 40 + "]" * 40 + "}",
        '{"kind": "auth", "event": "login", "ip": "fe80::1%lo"}',
    ]
    good = [usage(), {"kind": "system", "source": "s", "event": "fine"}, usage()]
    text = "[" + ", ".join([json.dumps(good[0]), *poisons[:7], json.dumps(good[1]),
                            *poisons[7:], json.dumps(good[2])]) + "]"
    body = post_raw(ingest_client, text).json()
    assert (body["accepted"], body["rejected"]) == (3, len(poisons)), body
    # The stored rows read back everywhere (page, API), nothing half-written.
    assert UsageRecord.objects.count() == 2 and SystemEvent.objects.filter(event="fine").exists()
    assert SystemEvent.objects.get(event="ingestion.rejected").details["rejected"] == len(poisons)
    for kind in ("usage", "system"):
        assert staff_client.get(f"/logs/{kind}/?range=all").status_code == 200


def test_a_resent_usage_event_with_another_time_is_one_row_and_one_cost(
        ingest_client, api_client):
    first = usage(occurred_at=(timezone.now() - timedelta(days=40)).isoformat(), cost="2.5")
    again = {**first, "occurred_at": (timezone.now() - timedelta(hours=1)).isoformat()}
    assert post(ingest_client, [first]).json()["accepted"] == 1
    body = post(ingest_client, [again, {**first, "occurred_at": 1700000000}]).json()
    assert (body["accepted"], body["duplicates"]) == (0, 2)
    assert body["event_ids"] == [first["event_id"]] * 2
    assert UsageRecord.objects.filter(event_id=first["event_id"]).count() == 1
    stats = api_client.get("/api/v1/usage/stats/?range=all").json()
    assert (stats["requests"], stats["cost"]) == (1, "2.50000000")
    # In one batch too: the first of an id's events is the one stored.
    twice = usage(cost="1")
    body = post(ingest_client, [twice, {**twice, "occurred_at": "2026-11-21T10:00:00Z"}]).json()
    assert (body["accepted"], body["duplicates"]) == (1, 1)


def test_retention_purges_the_ledger_with_the_rows_it_covers(ingest_client):
    from logcenter.retention import purge as retention
    from logcenter.models import UsageLedger
    from logcenter.core.registry import registry

    old = usage(occurred_at=(timezone.now() - timedelta(days=100)).isoformat())
    kept = usage(occurred_at=(timezone.now() - timedelta(days=10)).isoformat())
    post(ingest_client, [old, kept])
    assert UsageLedger.objects.count() == 2
    retention.retention_purge()
    assert list(UsageLedger.objects.values_list("event_id", flat=True)) == [
        uuid.UUID(kept["event_id"])]
    # A kept id is still a duplicate at any time; a purged one may come again.
    body = post(ingest_client, [{**kept, "occurred_at": "2026-11-21T10:00:00Z"}]).json()
    assert body["duplicates"] == 1
    from logcenter.models import RetentionPolicy

    RetentionPolicy.objects.filter(kind="usage").update(days=5)  # only expired rows go
    retention.purge_kind(registry["usage"], timezone.now() - timedelta(days=5), batch_size=1,
                         deadline=float("inf"))
    assert not UsageLedger.objects.exists()


def test_the_migration_fills_the_ledger_from_stored_rows(factories):
    import importlib
    from types import SimpleNamespace

    from django.db import connection

    from logcenter.models import UsageLedger

    rows = factories["usage"].create_batch(3)  # saved through the ORM: not in the ledger
    assert not UsageLedger.objects.exists()
    migration = importlib.import_module("logcenter.migrations.0016_usage_ledger")
    migration.backfill(None, SimpleNamespace(connection=connection))
    ledger = dict(UsageLedger.objects.values_list("event_id", "occurred_at"))
    assert ledger == {r.event_id: r.occurred_at for r in rows}


def test_the_consoles_own_events_are_shortened_and_mended_not_lost():
    from logcenter.core.services import system_event_record

    event = system_event_record(source="async_tasks", event="task.failed",
                                message="boom \x00 \ud800 " + "x" * 70_000,
                                details={"exception_message": "a\x00b", "k\ud800": ["\x00"]})
    event.refresh_from_db()
    assert len(event.message) == 64 * 1024 and event.message.endswith("…")
    assert event.message.startswith("boom \ufffd \ufffd ")
    assert event.details == {"exception_message": "a\ufffdb", "k\ufffd": ["\ufffd"]}


def test_rows_stored_outside_the_ledger_are_still_duplicates(ingest_client, factories):
    """Rows saved through the ORM or bulk-loaded (the demo) are not in the ledger: the
    usage table's own key still catches the same id and time, and the ledger then holds it."""
    row = factories["usage"]()
    item = usage(event_id=str(row.event_id), occurred_at=row.occurred_at.isoformat())
    assert post(ingest_client, [item]).json()["duplicates"] == 1
    body = post(ingest_client, [{**item, "occurred_at": "2026-11-21T10:00:00Z"}]).json()
    assert body["duplicates"] == 1 and UsageRecord.objects.count() == 1


def test_per_event_caps_keep_every_rollup_sum_in_range():
    """Whatever 2**32 accepted events add up to fits the rollup column they are summed into."""
    from logcenter.ingest import ingestion
    from logcenter.analytics import rollups
    from logcenter.models import UsageHourly

    for column, source in rollups.SUM_SOURCES.items():
        if source is None:
            continue
        low, high = ingestion._sum_cap(UsageRecord._meta.get_field(source))
        target = UsageHourly._meta.get_field(column)
        if target.get_internal_type() == "DecimalField":
            limit = Decimal(10) ** (target.max_digits - target.decimal_places)
        else:
            limit = 2 ** 63
        assert high * ingestion.SUM_SAFE_EVENTS < limit, column
        assert low * ingestion.SUM_SAFE_EVENTS >= -limit, column


def test_the_usage_ledger_is_append_only(on_postgres, ingest_client):
    from django.db import connection, transaction
    from django.db.utils import DatabaseError

    post(ingest_client, [usage()])
    with pytest.raises(DatabaseError, match="append-only|permission denied"), transaction.atomic(), \
            connection.cursor() as cursor:
        cursor.execute("DELETE FROM logcenter_usageledger")
