"""Seed 004's audit query API, from the document's own example: the request as written,
the response checked field by field against the document's shapes."""

from datetime import timedelta

import pytest
from django.utils import timezone

from logcenter.core.events import event_type_filter
from logcenter.core.registry import registry
from tests.factories import FACTORIES

pytestmark = pytest.mark.django_db
EVENT_FIELDS = {"id", "timestamp", "eventType", "category", "severity", "actor", "target",
                "context", "details", "result"}


def _data():
    now = timezone.now()
    rows = {
        "login_failed": FACTORIES["auth"](event="login.failed", result="failure",
                                          actor_id="user-123", occurred_at=now),
        "login_ok": FACTORIES["auth"](event="login.succeeded", result="success",
                                      actor_id="user-123", occurred_at=now - timedelta(minutes=1)),
        "role": FACTORIES["audit"](action="role.assigned", category="role", result="success",
                                   actor_id="user-123", occurred_at=now - timedelta(minutes=2)),
        "read": FACTORIES["audit"](action="audit.viewed", category="log_access",
                                   actor_id="user-9", occurred_at=now - timedelta(minutes=3)),
        "upstream": FACTORIES["system"](source="upstream", event="timeout", level="error",
                                        actor_id="user-9", occurred_at=now - timedelta(minutes=4)),
        "call": FACTORIES["usage"](endpoint="chat", status="error", actor_id="user-123",
                                   occurred_at=now - timedelta(minutes=5)),
    }
    return now, rows


def test_the_documents_example_request(api_client):
    now, rows = _data()
    response = api_client.get("/api/audit/logs", {
        "startTime": (now - timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "endTime": (now + timedelta(minutes=1)).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "eventType": "auth.*", "actorId": "user-123", "result": "failure", "limit": "100"})
    assert response.status_code == 200, response.content
    body = response.json()
    assert set(body) == {"logs", "pagination", "summary"}
    assert [log["id"] for log in body["logs"]] == [f"auth-{rows['login_failed'].event_id}"]
    log = body["logs"][0]
    assert set(log) == EVENT_FIELDS
    assert (log["eventType"], log["category"], log["severity"], log["result"]) == (
        "auth.login.failure", "authentication", "warning", "failure")
    assert set(log["actor"]) == {"type", "id", "email", "ipAddress", "userAgent"}
    assert log["actor"]["id"] == "user-123"
    assert set(log["context"]) >= {"sessionId", "requestId", "organizationId"}
    assert log["timestamp"].endswith("Z")
    assert body["pagination"] == {"nextCursor": None, "hasMore": False}
    assert body["summary"]["totalEvents"] == 1
    assert body["summary"]["byCategory"] == {"authentication": 1}


@pytest.mark.parametrize("pattern,expected", [
    ("auth.*", {"login_failed", "login_ok"}),
    ("auth.login.failure", {"login_failed"}),
    ("auth.login.success", {"login_ok"}),
    ("*.failure", {"login_failed", "upstream", "call"}),
    ("role.*", {"role"}),
    ("upstream.*", {"upstream"}),
    ("usage.chat", {"call"}),
    ("*", {"login_failed", "login_ok", "role", "read", "upstream", "call"}),
    ("nothing.*", set()),
])
def test_event_type_patterns_cross_kinds(api_client, pattern, expected):
    _, rows = _data()
    body = api_client.get("/api/audit/logs", {"eventType": pattern}).json()
    names = {name for name, row in rows.items()
             if any(log["id"].endswith(str(row.event_id)) for log in body["logs"])}
    assert names == expected


def test_categories_and_summary(api_client):
    _, rows = _data()
    body = api_client.get("/api/audit/logs", {"limit": "1000"}).json()
    by_id = {log["id"].split("-", 1)[1]: log for log in body["logs"]}
    assert by_id[str(rows["role"].event_id)]["category"] == "admin"
    assert by_id[str(rows["read"].event_id)]["category"] == "data"
    assert by_id[str(rows["upstream"].event_id)]["category"] == "system"
    counted = {}
    for log in body["logs"]:  # (the console's own events are among them: the users made)
        counted[log["category"]] = counted.get(log["category"], 0) + 1
    assert body["summary"]["byCategory"] == counted
    assert body["summary"]["totalEvents"] == len(body["logs"])


def test_the_cursor_pages_every_event_once(api_client):
    _data()
    seen, cursor = [], None
    while True:
        params = {"limit": "2", **({"cursor": cursor} if cursor else {})}
        body = api_client.get("/api/audit/logs", params).json()
        seen += [log["id"] for log in body["logs"]]
        cursor = body["pagination"]["nextCursor"]
        assert body["pagination"]["hasMore"] == (cursor is not None)
        if not cursor:
            break
    everything = api_client.get("/api/audit/logs", {"limit": "1000"}).json()["logs"]
    assert seen == [log["id"] for log in everything] and len(seen) == len(set(seen)) >= 6


@pytest.mark.parametrize("params,parameter", [
    ({"colour": "red"}, "colour"),
    ({"limit": "0"}, "limit"),
    ({"limit": "1001"}, "limit"),
    ({"result": "maybe"}, "result"),
    ({"eventType": "a*b"}, "eventType"),
    ({"eventType": "*.*"}, "eventType"),
    ({"startTime": "yesterday-ish"}, "startTime"),
    ({"cursor": "garbage"}, "cursor"),
    ({"actorId": "\x00"}, "actorId"),
])
def test_bad_input_is_a_400_in_the_documents_dialect(api_client, params, parameter):
    response = api_client.get("/api/audit/logs", params)
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid_parameter" and error["parameter"] == parameter
    assert error["message"]


def test_a_member_sees_only_their_own_events(client, member):
    FACTORIES["auth"](user_id=str(member.pk), event="login.failed", result="failure")
    FACTORIES["auth"](user_id="someone-else", event="login.failed", result="failure")
    client.force_login(member)
    body = client.get("/api/audit/logs", {"eventType": "auth.*"}).json()
    assert len(body["logs"]) == 1


def test_sign_in_is_required_in_the_dialect(client):
    response = client.get("/api/audit/logs")
    assert response.status_code in (401, 403)
    assert response.json()["error"]["code"] in ("unauthorized", "forbidden")


def test_a_pattern_matches_the_kind_fields_it_names():
    usage, system = registry["usage"], registry["system"]
    assert event_type_filter(usage, "auth.*") is None
    assert event_type_filter(system, "upstream.timeout") is not None
    assert event_type_filter(usage, "usage") is None
