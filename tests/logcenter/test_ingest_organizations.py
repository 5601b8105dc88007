"""The customer a row belongs to: ingestion fills and enforces organization_id and project_id
for a customer's key, checks them for a platform key; the console's own events carry the
actor's organization."""

import json
import uuid

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from accounts.models import ApiKey
from logcenter.models import AuditEvent, AuthEvent, UsageRecord
from tests.factories import (MembershipFactory, OrganizationFactory, ProjectFactory,
                             StaffFactory)

pytestmark = pytest.mark.django_db
URL = "/api/v1/ingest/"


def usage(**extra):
    return {"kind": "usage", "event_id": str(uuid.uuid4()),
            "occurred_at": timezone.now().isoformat(), "platform_model": "gpt-4o",
            "username": "alice", "prompt_tokens": 10, "completion_tokens": 2, **extra}


def client_for(secret):
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
    return api


def post(api, items):
    return api.generic("POST", URL, json.dumps(items), content_type="application/json")


@pytest.fixture
def customers(db):
    first, second = OrganizationFactory(slug="ingest-a"), OrganizationFactory(slug="ingest-b")
    owner = MembershipFactory(organization=first, role="admin",
                              user__username="ingest-a-admin").user
    _, customer_secret = ApiKey.generate(owner=owner, name="a-service", scopes=["ingest"],
                                         kinds=["usage"], project=first.default_project)
    _, platform_secret = ApiKey.generate(owner=StaffFactory(username="gateway-svc"),
                                         name="gateway", scopes=["ingest"], kinds=["usage"])
    return first, second, client_for(customer_secret), client_for(platform_secret)


def stored(event_id):
    return UsageRecord.objects.get(event_id=event_id)


def test_a_customer_keys_rows_belong_to_its_organization_and_project(customers):
    first, _, customer, _ = customers
    other_project = ProjectFactory(organization=first, slug="batch")
    plain, named, same = usage(), usage(project_id=other_project.public_id), usage(
        organization_id=first.public_id)
    body = post(customer, [plain, named, same]).json()
    assert (body["accepted"], body["rejected"]) == (3, 0), body["errors"]
    row = stored(plain["event_id"])
    assert (row.organization_id, row.project_id) == (first.public_id,
                                                     first.default_project.public_id)
    # Another project of its own organization is the sender's to name.
    assert stored(named["event_id"]).project_id == other_project.public_id
    assert stored(same["event_id"]).organization_id == first.public_id


def test_a_customer_key_cannot_write_rows_of_another_organization(customers):
    first, second, customer, _ = customers
    items = [usage(organization_id=second.public_id),
             usage(project_id=second.default_project.public_id),
             usage(project_id="proj_nowhere"),
             usage(organization_id=second.public_id,
                   project_id=second.default_project.public_id),
             usage()]
    response = post(customer, items)
    assert response.status_code == 200
    body = response.json()
    assert (body["accepted"], body["rejected"]) == (1, 4)
    assert [(e["index"], e["field"]) for e in body["errors"]] == [
        (0, "organization_id"), (1, "project_id"), (2, "project_id"),
        (3, "organization_id"), (3, "project_id")]
    assert first.public_id in body["errors"][0]["reason"]
    assert "another organization" in body["errors"][0]["reason"]
    assert "not a project of this key's organization" in body["errors"][1]["reason"]
    assert not UsageRecord.objects.filter(organization_id=second.public_id).exists()
    # The reasons follow Accept-Language, like every other field's.
    translated = customer.generic("POST", URL, json.dumps(items[:1]),
                                  content_type="application/json",
                                  HTTP_ACCEPT_LANGUAGE="zh-hans").json()
    assert "another organization" not in translated["errors"][0]["reason"]


def test_a_platform_key_names_any_organization_but_a_project_must_be_its(customers):
    first, second, _, platform = customers
    mine = first.default_project.public_id
    items = [usage(organization_id=second.public_id),  # any organization
             usage(project_id=mine),  # a known project: its organization is filled
             usage(organization_id=second.public_id, project_id=mine),  # not B's project
             usage(organization_id=first.public_id, project_id="proj_unknown"),  # A exists
             usage(organization_id="org_elsewhere", project_id="proj_elsewhere"),  # unknown
             usage()]  # a platform row
    body = post(platform, items).json()
    assert [(e["index"], e["field"]) for e in body["errors"]] == [(2, "project_id"),
                                                                   (3, "project_id")]
    assert second.public_id in body["errors"][0]["reason"]
    assert stored(items[0]["event_id"]).organization_id == second.public_id
    assert (stored(items[1]["event_id"]).organization_id,
            stored(items[1]["event_id"]).project_id) == (first.public_id, mine)
    assert (stored(items[4]["event_id"]).organization_id,
            stored(items[4]["event_id"]).project_id) == ("org_elsewhere", "proj_elsewhere")
    assert (stored(items[5]["event_id"]).organization_id,
            stored(items[5]["event_id"]).project_id) == ("", "")


@pytest.mark.parametrize("value, reason", [
    ("o" * 65, "is longer than 64 characters"),
    (42, "must be a string"),
    ("org_\u0000", "must not contain NUL characters"),
])
@pytest.mark.parametrize("field", ["organization_id", "project_id"])
def test_bad_organization_and_project_values_are_named(customers, field, value, reason):
    _, _, _, platform = customers
    body = post(platform, [usage(**{field: value})]).json()
    assert body["rejected"] == 1
    assert body["errors"] == [{"index": 0, "field": field, "reason": reason}]


def test_a_batch_naming_no_customer_looks_none_up(customers):
    """The gateway's usual batch (no organization named) costs no lookup: the organization
    checks add no query to the hot path."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from logcenter.ingest.ingestion import Source, ingest

    source = Source("lc_platform1", "gateway", frozenset({"usage"}))
    with CaptureQueriesContext(connection) as queries:
        result = ingest([usage() for _ in range(20)], source=source)
    assert result.accepted == 20
    assert not any("accounts_" in q["sql"] for q in queries.captured_queries)


# --- the console's own events ---------------------------------------------------------------

def test_console_events_carry_the_actors_organization(client, customers):
    first, _, _, _ = customers
    member = MembershipFactory(organization=first, role="member",
                               user__username="signing-in").user
    staff = StaffFactory(username="console-admin")
    client.post("/accounts/login/", {"username": "signing-in",
                                     "password": "correct-horse-battery"})
    signed_in = AuthEvent.objects.filter(user_id=str(member.pk), event="login.succeeded").get()
    assert (signed_in.organization_id, signed_in.project_id) == (
        first.public_id, first.default_project.public_id)
    from django.test import Client

    Client().post("/accounts/login/", {"username": "signing-in", "password": "wrong"})
    failed = AuthEvent.objects.filter(user_id=str(member.pk), event="login.failed").get()
    assert failed.organization_id == first.public_id
    # Support unlocking the member acts as staff, yet the member's history stays theirs.
    from accounts.services import unlock_account

    unlock_account(actor=staff, user=member)
    unlocked = AuthEvent.objects.get(user_id=str(member.pk), event="account.unlocked")
    assert unlocked.organization_id == first.public_id
    # Every event's actor snapshot: staff belong to no organization, a member to theirs.
    from logcenter.core.services import actor_fields

    assert actor_fields(staff)["organization_id"] == actor_fields(staff)["project_id"] == ""
    assert actor_fields(member)["organization_id"] == first.public_id
    assert actor_fields(None)["organization_id"] == ""


def test_reads_with_a_customers_key_are_recorded_under_its_project(customers):
    from tests.factories import AuditEventFactory

    first, _, _, _ = customers
    auditor = MembershipFactory(organization=first, role="auditor",
                                user__username="key-reader").user
    project = ProjectFactory(organization=first, slug="reporting")
    _, secret = ApiKey.generate(owner=auditor, name="reporting", scopes=["read"],
                                project=project)
    row = AuditEventFactory(organization_id=first.public_id)
    answer = client_for(secret).get(f"/api/v1/audit-events/{row.event_id}/")
    assert answer.status_code == 200
    viewed = AuditEvent.objects.get(action="audit_log.viewed", resource_id=str(row.event_id))
    assert (viewed.organization_id, viewed.project_id) == (first.public_id, project.public_id)
    assert viewed.actor_id == str(auditor.pk)
