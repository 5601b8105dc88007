"""POST /api/v1/ingest/: auth, limits, validation, idempotency, mixed batches."""

import json
import uuid
from datetime import timedelta

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
    _, secret = ApiKey.generate(owner=owner, name="gateway", scopes=["ingest"])
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
