"""Administration leaves audit events with actor, resource and before/after values."""

import json

import pytest
from django.contrib.auth.models import Group, Permission
from rest_framework.test import APIClient

from accounts.models import User
from logcenter.models import AuditEvent, AuthEvent, SystemEvent, UsageRecord
from tests.factories import AuditEventFactory, MemberFactory, StaffFactory

pytestmark = pytest.mark.django_db


def last(action):
    return AuditEvent.objects.filter(action=action).latest("id")


def test_user_created_changed_disabled_and_deleted_through_the_admin(client):
    admin = StaffFactory(username="boss", is_superuser=True)
    client.force_login(admin)
    target = MemberFactory(username="olga", display_name="Olga")
    assert last("user.added").resource_id == str(target.pk)

    target.display_name = "Olga K."
    target.save()
    updated = last("user.updated")
    assert updated.changes == {"display_name": {"before": "Olga", "after": "Olga K."}}

    # Through the Django admin: the request's user is the actor.
    response = client.post(f"/admin/accounts/user/{target.pk}/change/", {
        "username": "olga", "email": target.email, "display_name": "Olga K.",
        "timezone": "UTC", "is_active": "", "date_joined_0": "2026-01-01",
        "date_joined_1": "00:00:00", "groups": [], "user_permissions": [],
    })
    assert response.status_code == 302, response.content.decode()[:2000]
    disabled = last("user.disabled")
    assert disabled.actor_name == "boss" and disabled.actor_type == "user"
    assert disabled.changes == {"is_active": {"before": True, "after": False}}
    assert disabled.request_id.startswith("req_") and disabled.ip == "127.0.0.1"

    pk = target.pk
    target.delete()
    assert last("user.deleted").resource_id == str(pk)


def test_role_and_permission_changes():
    user = MemberFactory(username="pete")
    user.groups.add(Group.objects.get(name="Finance"))
    change = last("user.role_changed")
    assert change.changes == {"roles": {"before": ["Member"], "after": ["Finance", "Member"]}}

    user.groups.remove(Group.objects.get(name="Member"))
    assert last("user.role_changed").changes["roles"]["after"] == ["Finance"]

    finance = Group.objects.get(name="Finance")
    perm = Permission.objects.get(codename="view_sensitive_usagerecord")
    finance.permissions.add(perm)
    granted = last("role.permissions_granted")
    assert granted.resource_name == "Finance"
    assert granted.changes["permissions"]["after"] == ["logcenter.view_sensitive_usagerecord"]


def test_re_syncing_roles_that_lack_nothing_leaves_no_empty_events():
    from accounts.roles import sync_roles

    before = AuditEvent.objects.filter(category="role").count()
    sync_roles()  # what every `migrate` does: every role already has its permissions
    assert AuditEvent.objects.filter(category="role").count() == before
    Group.objects.get(name="Finance").permissions.add(
        Permission.objects.get(codename="view_sensitive_usagerecord"))  # already there?
    events = AuditEvent.objects.filter(category="role")
    assert all(e.changes["permissions"]["after"] or e.changes["permissions"]["before"]
               for e in events)


def test_viewing_an_audit_record_is_audited_on_page_and_api(client):
    admin = StaffFactory(username="curious")
    row = AuditEventFactory()
    client.force_login(admin)
    client.get(row.get_absolute_url())
    api = APIClient()
    api.force_authenticate(admin)
    api.get(f"/api/v1/audit-events/{row.event_id}/")
    views = AuditEvent.objects.filter(action="audit_log.viewed", resource_id=str(row.event_id))
    assert views.count() == 2
    assert set(views.values_list("actor_name", flat=True)) == {"curious"}


def test_no_log_row_anywhere_holds_a_raw_secret(client):
    """After sign-ins, failed attempts, key creation and key use, scan every row."""
    password = "Tr0ub4dor&3-unique"
    user = MemberFactory(username="quinn")
    user.set_password(password)
    user.save()
    admin = StaffFactory(username="keymaker")

    client.post("/accounts/login/", {"username": "quinn", "password": "wrong-" + password})
    client.post("/accounts/login/", {"username": "nobody", "password": password})
    client.post("/accounts/login/", {"username": "quinn", "password": password})
    session_key = client.session.session_key
    client.post("/accounts/password/", {"old_password": password,
                                        "new_password1": "An0ther-Secret-Pass",
                                        "new_password2": "An0ther-Secret-Pass"})
    client.force_login(admin)
    from tests.accounts.test_api_keys import post_key_form

    html = post_key_form(client, {"name": "k", "scopes": ["read"],
                                  "group": "default"})[0].content.decode()
    secret = html.split('<pre id="new-secret">')[1].split("</pre>")[0]
    api = APIClient()
    api.get("/api/v1/audit-events/", HTTP_AUTHORIZATION=f"Bearer {secret}")
    api.get(f"/api/v1/usage-records/by-key/?key={secret}")
    api.get("/api/v1/usage-records/by-key/", HTTP_AUTHORIZATION="Bearer lc_wrong_secret_123")
    User.objects.create_user("rita", "rita@example.com", password="Create-Secret-99")

    secrets = [password, "wrong-" + password, "An0ther-Secret-Pass", secret, session_key,
               "lc_wrong_secret_123", "Create-Secret-99"]
    assert AuthEvent.objects.filter(event="password.changed").exists()
    for model in (AuditEvent, UsageRecord, AuthEvent, SystemEvent):
        for row in model.objects.all():
            text = json.dumps({f.name: str(getattr(row, f.name))
                               for f in model._meta.concrete_fields})
            for value in secrets:
                assert value not in text, f"{model.__name__} {row.pk} holds a secret"
