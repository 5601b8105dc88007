"""Who may write what, and every row saying who wrote it (ingested_by)."""

import importlib
import json

import pytest
from django.core.exceptions import PermissionDenied
from rest_framework.test import APIClient

from accounts.models import ApiKey
from accounts.services import api_key_create
from logcenter.models import CONSOLE, AuditEvent, UsageRecord
from logcenter.core.services import audit_event_record
from tests.factories import MemberFactory, StaffFactory

pytestmark = pytest.mark.django_db


def _ingest(secret, events):
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
    return api.post("/api/v1/ingest/", events, format="json")


# --- only administrators make ingest keys, each naming its kinds ---------------------------

def test_a_member_cannot_create_an_ingest_key_in_the_console(client):
    member = MemberFactory(username="mallory")
    client.force_login(member)
    page = client.get("/accounts/api-keys/")
    assert 'value="ingest"' not in page.content.decode()
    nonce = page.context["nonce"]
    response = client.post("/accounts/api-keys/", {"name": "forger", "scopes": ["ingest"],
                                                   "group": "default", "nonce": nonce})
    assert response.status_code == 400
    assert not ApiKey.objects.filter(name="forger").exists()


def test_a_member_cannot_create_one_through_the_service_layer():
    member = MemberFactory(username="mallory2")
    with pytest.raises(PermissionDenied):
        api_key_create(actor=member, owner=member, name="x", scopes=["ingest"], kinds=["audit"])
    assert not ApiKey.objects.filter(owner=member).exists()


def test_an_administrator_creates_one_naming_its_kinds(client):
    admin = StaffFactory(username="root-admin")
    client.force_login(admin)
    page = client.get("/accounts/api-keys/")
    assert 'value="ingest"' in page.content.decode()
    nonce = page.context["nonce"]
    missing = client.post("/accounts/api-keys/", {"name": "gw", "scopes": ["ingest"],
                                                  "group": "default", "nonce": nonce})
    assert missing.status_code == 400 and "Name the kinds" in missing.content.decode()
    nonce = missing.context["nonce"]
    made = client.post("/accounts/api-keys/", {"name": "gateway", "scopes": ["ingest"],
                                               "kinds": ["usage", "auth", "system"],
                                               "group": "default", "nonce": nonce})
    assert made.status_code == 200
    key = ApiKey.objects.get(name="gateway")
    assert key.kinds == ["auth", "system", "usage"] and key.is_service_key
    created = AuditEvent.objects.get(action="api_key.created", resource_id=key.prefix)
    assert created.changes["kinds"] == {"before": None, "after": ["auth", "system", "usage"]}


def test_keys_made_before_the_rule_are_restricted():
    admin = StaffFactory(username="old-admin")
    member = MemberFactory(username="old-member")
    admin_key, _ = ApiKey.generate(owner=admin, name="a", scopes=["read", "ingest"])
    member_key, _ = ApiKey.generate(owner=member, name="m", scopes=["read", "ingest"])
    migration = importlib.import_module("accounts.migrations.0004_ingest_key_kinds")

    class Editor:
        from django.db import connection

    from django.apps import apps
    migration.restrict_existing_keys(apps, Editor)
    admin_key.refresh_from_db()
    member_key.refresh_from_db()
    assert admin_key.kinds == ["auth", "system", "usage"] and "ingest" in admin_key.scopes
    assert member_key.scopes == ["read"] and member_key.kinds == []


# --- what a key may write, and the provenance of every row -----------------------------------

def test_a_key_writes_only_its_kinds_and_every_row_names_it():
    admin = StaffFactory(username="svc-owner")
    key, secret = ApiKey.generate(owner=admin, name="billing", scopes=["ingest"],
                                  kinds=["usage"])
    response = _ingest(secret, [
        {"kind": "usage", "platform_model": "gpt-4o", "prompt_tokens": 3},
        {"kind": "audit", "action": "user.deleted", "actor_type": "user",
         "actor_name": "admin", "resource_id": "1"},
    ])
    body = response.json()
    assert response.status_code == 200 and body["accepted"] == 1 and body["rejected"] == 1
    assert body["errors"] == [{"index": 1, "field": "kind",
                               "reason": "this key may not write audit events "
                                         "(it may write: usage)"}]
    row = UsageRecord.objects.get()
    assert (row.ingested_by, row.ingested_by_name) == (key.prefix, "billing")
    assert not AuditEvent.objects.filter(action="user.deleted").exists()


def test_a_sender_cannot_claim_another_provenance():
    admin = StaffFactory(username="svc-owner2")
    key, secret = ApiKey.generate(owner=admin, name="gw", scopes=["ingest"], kinds=["system"])
    body = _ingest(secret, [{"kind": "system", "source": "gw", "event": "x",
                             "ingested_by": CONSOLE}]).json()
    assert body["rejected"] == 1 and body["errors"][0]["field"] == "ingested_by"


def test_the_consoles_own_events_say_console(staff):
    row = audit_event_record(action="retention.updated", actor=staff)
    assert (row.ingested_by, row.ingested_by_name) == (CONSOLE, "Logcenter console")


def test_provenance_is_filtered_shown_and_exported(staff_client, api_client, staff):
    key, secret = ApiKey.generate(owner=staff, name="memory-svc", scopes=["ingest"],
                                  kinds=["audit"])
    body = _ingest(secret, [{"kind": "audit", "action": "memory.deleted", "actor_type": "user",
                             "actor_id": "7", "actor_name": "alice", "resource_id": "m1"}])
    event_id = body.json()["event_ids"][0]
    console_row = audit_event_record(action="retention.updated", actor=staff)

    listed = api_client.get(f"/api/v1/audit-events/?ingested_by={key.prefix}").json()
    assert [r["event_id"] for r in listed["results"]] == [event_id]
    assert listed["results"][0]["ingested_by_name"] == "memory-svc"
    others = api_client.get(f"/api/v1/audit-events/?exclude_ingested_by={key.prefix}").json()
    assert event_id not in {r["event_id"] for r in others["results"]}
    assert str(console_row.event_id) in {r["event_id"] for r in others["results"]}

    page = staff_client.get(f"/logs/audit/{event_id}/").content.decode()
    assert "Reported by the service <strong>memory-svc</strong>" in page
    assert key.prefix in page
    console_page = staff_client.get(f"/logs/audit/{console_row.event_id}/").content.decode()
    assert "Reported by the service" not in console_page

    job = api_client.post("/api/v1/exports/", {"kind": "audit", "format": "json",
                                               "filters": {"ingested_by": key.prefix}},
                          format="json").json()
    download = api_client.get(f"/api/v1/exports/{job['export_id']}/download/")
    exported = json.loads(b"".join(download.streaming_content))
    rows = exported if isinstance(exported, list) else exported.get("rows", exported)
    assert any(r.get("ingested_by") == key.prefix for r in rows)


# --- reads of audit records do not bury the changes ------------------------------------------

def test_record_views_are_hidden_by_default_with_a_switch(staff_client, api_client, factories):
    change = factories["audit"](action="user.role_changed")
    staff_client.get(f"/logs/audit/{change.event_id}/")  # writes audit_log.viewed
    viewed = AuditEvent.objects.get(action="audit_log.viewed")

    def ids(query):
        return {r["event_id"] for r in api_client.get(f"/api/v1/audit-events/{query}")
                .json()["results"]}

    assert str(viewed.event_id) not in ids("") and str(change.event_id) in ids("")
    assert str(viewed.event_id) in ids("?show_views=true")
    assert ids("?action=audit_log.viewed") == {str(viewed.event_id)}
    assert str(viewed.event_id) in ids("?action=audit_log.*")
    page = staff_client.get("/logs/audit/").content.decode()
    assert 'name="show_views"' in page and "Record views" in page
    assert str(viewed.event_id) not in page
    assert str(viewed.event_id) in staff_client.get("/logs/audit/?show_views=true"
                                                    ).content.decode()


def test_the_admin_applies_the_same_rules_to_ingest_keys(client):
    from django.contrib.auth.models import Permission

    owner = MemberFactory(username="holder")
    key, _ = ApiKey.generate(owner=owner, name="reader", scopes=["read"])
    staff = MemberFactory(username="keyclerk")
    staff.is_staff = True
    staff.save()
    staff.user_permissions.add(*Permission.objects.filter(
        codename__in=["view_apikey", "change_apikey"]))
    client.force_login(staff)
    url = f"/admin/accounts/apikey/{key.pk}/change/"
    data = {"owner": owner.pk, "name": "reader", "group": "default", "status": "active",
            "_save": "1"}
    widened = client.post(url, {**data, "scopes": ["ingest", "read"], "kinds": ["audit"]})
    assert widened.status_code == 200
    assert "Only administrators make ingest keys." in widened.content.decode()
    key.refresh_from_db()
    assert key.scopes == ["read"]
    admin = StaffFactory(username="keyboss", is_superuser=True)
    client.force_login(admin)
    no_kinds = client.post(url, {**data, "scopes": ["ingest", "read"]})
    assert "Name the kinds this ingest key may write." in no_kinds.content.decode()
    assert client.post(url, {**data, "scopes": ["ingest", "read"],
                             "kinds": ["audit"]}).status_code == 302
    key.refresh_from_db()
    assert key.kinds == ["audit"]
