"""OpenAI's Admin API audit logs (seed 003): the document's parameters, objects and list
shape, from Logcenter's audit and sign-in rows."""

from datetime import datetime, timedelta
from datetime import timezone as dt_timezone

import pytest

from tests.factories import FACTORIES, MembershipFactory, OrganizationFactory

pytestmark = pytest.mark.django_db
T0 = datetime(2026, 11, 2, 12, tzinfo=dt_timezone.utc)


@pytest.fixture
def acme_owner(client):
    acme = OrganizationFactory(name="Acme", slug="acme", plan="enterprise")
    owner = MembershipFactory(organization=acme, role="owner")
    client.force_login(owner.user)
    return client, acme


def _rows(acme):
    org = {"organization_id": acme.public_id, "project_id": acme.default_project.public_id}
    return {
        "key": FACTORIES["audit"](action="api_key.created", resource_type="api_key",
                                  resource_id="key_1", resource_name="ci key",
                                  actor_id="u1", actor_name="ann@acme.test",
                                  occurred_at=T0, **org),
        "role": FACTORIES["audit"](action="user.role_changed", resource_id="u2",
                                   changes={"roles": {"before": ["Member"],
                                                      "after": ["Auditor"]}},
                                   occurred_at=T0 - timedelta(minutes=1), **org),
        "fail": FACTORIES["auth"](event="login.failed", result="failure",
                                  failure_reason="bad_password", actor_id="u3",
                                  ip="203.0.113.9", occurred_at=T0 - timedelta(minutes=2),
                                  **org),
        "ok": FACTORIES["auth"](event="login.succeeded", occurred_at=T0 - timedelta(minutes=3),
                                **org),
        "unmapped": FACTORIES["audit"](action="saved_view.created",
                                       occurred_at=T0 - timedelta(minutes=4), **org),
        "other_org": FACTORIES["audit"](action="api_key.created", organization_id="org_x",
                                        occurred_at=T0),
    }


def test_the_list_and_its_objects(acme_owner):
    client, acme = acme_owner
    rows = _rows(acme)
    response = client.get("/v1/organization/audit_logs", {"limit": "10"})
    assert response.status_code == 200, response.content
    body = response.json()
    assert set(body) == {"object", "data", "first_id", "last_id", "has_more"}
    assert body["object"] == "list" and body["has_more"] is False
    types = [log["type"] for log in body["data"]]
    assert types[:4] == ["api_key.created", "user.updated", "login.failed", "login.succeeded"]
    assert "saved_view.created" not in types
    key = body["data"][0]
    assert key["id"] == body["first_id"] and key["id"].startswith("audit_log-")
    assert key["effective_at"] == int(T0.timestamp())
    assert key["actor"] == {"type": "session", "session": {
        "user": {"id": "u1", "email": "ann@acme.test"}, "ip_address": rows["key"].ip,
        "user_agent": rows["key"].user_agent or None}}
    assert key["project"] == {"id": acme.default_project.public_id, "name": None}
    assert key["api_key.created"]["id"] == "key_1"
    assert body["data"][1]["user.updated"]["changes_requested"] == {"roles": ["Auditor"]}
    assert body["data"][2]["login.failed"] == {"error_code": "bad_password",
                                               "error_message": "bad_password"}


def test_filters(acme_owner):
    client, acme = acme_owner
    _rows(acme)

    def types(**params):
        return [log["type"] for log in
                client.get("/v1/organization/audit_logs", params).json()["data"]]

    assert types(**{"event_types[]": "login.failed"}) == ["login.failed"]
    assert types(**{"actor_ids[]": "u3"}) == ["login.failed"]
    assert types(**{"actor_emails[]": "ann@acme.test"}) == ["api_key.created"]
    assert types(**{"resource_ids[]": "u2"}) == ["user.updated"]
    assert types(**{"effective_at[gte]": str(int(T0.timestamp()))}) == ["api_key.created"]
    assert types(**{"effective_at[lt]": str(int(T0.timestamp()) - 60),
                    "effective_at[gt]": str(int(T0.timestamp()) - 10_000)}) == [
        "login.failed", "login.succeeded"]


def test_after_and_before_page_both_ways(acme_owner):
    client, acme = acme_owner
    _rows(acme)
    everything = client.get("/v1/organization/audit_logs", {"limit": "100"}).json()["data"]
    first = client.get("/v1/organization/audit_logs", {"limit": "2"}).json()
    assert first["has_more"] and [d["id"] for d in first["data"]] == [
        d["id"] for d in everything[:2]]
    second = client.get("/v1/organization/audit_logs", {"limit": "2",
                                                       "after": first["last_id"]}).json()
    assert [d["id"] for d in second["data"]] == [d["id"] for d in everything[2:4]]
    back = client.get("/v1/organization/audit_logs", {"limit": "2",
                                                     "before": second["first_id"]}).json()
    assert [d["id"] for d in back["data"]] == [d["id"] for d in everything[:2]]


@pytest.mark.parametrize("params,param", [
    ({"limit": "0"}, "limit"), ({"event_types[]": "launch.rocket"}, "event_types[]"),
    ({"effective_at[gt]": "soon"}, "effective_at[gt]"), ({"after": "audit_log-nope"}, "after"),
    ({"after": "a", "before": "b"}, "before"), ({"colour": "red"}, "colour"),
])
def test_bad_input_is_a_400_in_openais_shape(acme_owner, params, param):
    client, _ = acme_owner
    response = client.get("/v1/organization/audit_logs", params)
    assert response.status_code == 400
    assert response.json()["error"]["param"] == param
