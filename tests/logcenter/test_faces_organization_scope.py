"""Every compatibility face and the timeline answer an organization's admin with that
organization's rows only, and a member with their own: the one visibility rule."""

import json

import pytest
from django.utils import timezone

from tests.factories import FACTORIES, MembershipFactory, OrganizationFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def two_organizations():
    acme = OrganizationFactory(name="Acme", slug="acme", plan="enterprise")
    globex = OrganizationFactory(name="Globex", slug="globex", plan="enterprise")
    now = timezone.now()
    rows = {}
    for org in (acme, globex):
        common = {"organization_id": org.public_id, "request_id": "req-shared",
                  "occurred_at": now}
        rows[org.slug] = {
            "usage": FACTORIES["usage"](user_id="u-same", endpoint="chat", **common),
            "auth": FACTORIES["auth"](user_id="u-same", event="login.failed",
                                      result="failure", **common),
            "audit": FACTORIES["audit"](action="memory.write", actor_id="u-same", **common),
        }
    return acme, rows


def _event_ids(rows):
    return {str(row.event_id) for row in rows.values()}


def _admin(client, organization):
    client.force_login(MembershipFactory(organization=organization, role="admin").user)
    return client


def test_the_timeline(client, two_organizations):
    acme, rows = two_organizations
    api = _admin(client, acme)
    body = api.get("/api/v1/timeline/", {"request_id": "req-shared"}).json()
    assert {event["id"] for event in body["results"]} == _event_ids(rows["acme"])
    body = api.get("/api/v1/timeline/", {"user": "u-same"}).json()
    assert {event["id"] for event in body["results"]} <= _event_ids(rows["acme"])


def test_the_audit_query_api(client, two_organizations):
    acme, rows = two_organizations
    body = _admin(client, acme).get("/api/audit/logs", {"limit": "1000"}).json()
    found = {log["id"].split("-", 1)[1] for log in body["logs"]}
    assert _event_ids(rows["acme"]) <= found
    assert not found & _event_ids(rows["globex"])


def test_new_api(client, two_organizations):
    acme, rows = two_organizations
    data = _admin(client, acme).get("/api/log/", {"page_size": "100"}).json()["data"]
    others = {str(row.event_id) for row in rows["globex"].values()}
    seen = {json.loads(item["other"])["event_id"] for item in data["items"]}
    assert str(rows["acme"]["usage"].event_id) in seen and not seen & others
    assert data["total"] == len(data["items"])


def test_the_gateway_audit_api(client, two_organizations):
    acme, rows = two_organizations
    body = _admin(client, acme).get("/v1/audit/logs", {"page_size": "100"}).json()
    assert {item["audit_id"] for item in body["items"]} == {
        str(rows["acme"]["usage"].event_id), str(rows["acme"]["audit"].event_id)}
    assert body["pagination"]["total"] == 2


def test_openai_audit_logs(client, two_organizations):
    acme, rows = two_organizations
    body = _admin(client, acme).get("/v1/organization/audit_logs", {"limit": "100"}).json()
    ids = {log["id"] for log in body["data"]}
    assert f"audit_log-auth_{rows['acme']['auth'].event_id.hex}" in ids
    assert f"audit_log-auth_{rows['globex']['auth'].event_id.hex}" not in ids
