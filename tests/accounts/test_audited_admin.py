"""Administration leaves audit events with actor, resource and before/after values, wherever
it is made (console, Django admin, shell, management command). The walk over every admin
form is tests/accounts/test_admin_audit_walk.py."""

import getpass
import json
import sys

import pytest
from django.contrib.auth.hashers import MD5PasswordHasher
from django.contrib.auth.models import Group, Permission
from django.core.management import call_command
from django.utils import timezone
from rest_framework.test import APIClient

from accounts import services
from accounts.models import ApiKey, User
from logcenter.core import admin_audit
from logcenter.core.audit_actions import AuditAction
from logcenter.models import AuditEvent, AuthEvent, SystemEvent, UsageRecord
from logcenter.core.services import audit_event_record
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
    joined = timezone.localtime(target.date_joined)
    response = client.post(f"/admin/accounts/user/{target.pk}/change/", {
        "username": "olga", "email": target.email, "display_name": "Olga K.",
        "timezone": "UTC", "is_active": "", "date_joined_0": f"{joined:%Y-%m-%d}",
        "date_joined_1": f"{joined:%H:%M:%S.%f}",
        "groups": list(target.groups.values_list("pk", flat=True)), "user_permissions": [],
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
    assert change.resource_type == "user" and change.resource_name == "pete"

    user.groups.remove(Group.objects.get(name="Member"))
    assert last("user.role_changed").changes["roles"]["after"] == ["Finance"]

    finance = Group.objects.get(name="Finance")
    perm = Permission.objects.get(codename="view_sensitive_usagerecord")
    finance.permissions.add(perm)
    granted = last("role.permissions_changed")
    assert granted.resource_name == "Finance" and granted.resource_type == "role"
    assert granted.resource_id == str(finance.pk)
    change = granted.changes["permissions"]
    assert set(change["after"]) - set(change["before"]) == {"logcenter.view_sensitive_usagerecord"}


def test_re_syncing_roles_that_lack_nothing_leaves_no_empty_events():
    from accounts.roles import sync_roles

    before = AuditEvent.objects.filter(category="role").count()
    sync_roles()  # what every `migrate` does: every role already has its permissions
    assert AuditEvent.objects.filter(category="role").count() == before
    perm = Permission.objects.get(codename="view_sensitive_usagerecord")
    Group.objects.get(name="Finance").permissions.add(perm)
    Group.objects.get(name="Finance").permissions.add(perm)  # already there: no event
    assert AuditEvent.objects.filter(category="role").count() == before + 1
    events = AuditEvent.objects.filter(action="role.permissions_changed")
    assert all(e.changes["permissions"]["after"] != e.changes["permissions"]["before"]
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


# Changes made outside the console: the Django admin, a shell, a management command. ----------

def _added_since(seen):
    return list(AuditEvent.objects.exclude(id__in=seen).order_by("id"))


def _seen():
    return set(AuditEvent.objects.values_list("id", flat=True))


@pytest.fixture
def in_shell(monkeypatch):
    """As in `python manage.py shell`: no request, the process's own account acts."""
    monkeypatch.setattr(sys, "argv", ["manage.py", "shell"])
    return getpass.getuser()


def test_reactivating_a_revoked_key_and_widening_it_in_the_admin_is_one_event(client):
    admin = StaffFactory(username="keyadmin", is_superuser=True)
    owner = MemberFactory(username="keyholder")
    key, _ = ApiKey.generate(owner=owner, name="old", scopes=["read"])
    services.api_key_revoke(actor=admin, key=key)
    client.force_login(admin)
    seen = _seen()
    response = client.post(f"/admin/accounts/apikey/{key.pk}/change/", {
        "owner": owner.pk, "name": "old", "group": "default", "scopes": ["read", "ingest"],
        "kinds": ["usage"], "status": "active", "_save": "1"})
    assert response.status_code == 302, response.context["errors"]
    [event] = _added_since(seen)
    key.refresh_from_db()
    assert event.action == "api_key.reactivated" and key.revoked_at is None
    assert (event.resource_type, event.resource_id, event.resource_name) == (
        "api_key", key.prefix, "old")
    assert event.actor_name == "keyadmin" and event.details["via"] == "admin"
    assert event.details["owner"] == "keyholder"
    assert event.changes["status"] == {"before": "revoked", "after": "active"}
    assert event.changes["scopes"] == {"before": ["read"], "after": ["ingest", "read"]}
    assert event.changes["kinds"] == {"before": [], "after": ["usage"]}
    assert event.changes["revoked_at"]["after"] is None


def test_role_created_renamed_and_deleted_in_the_admin(client):
    admin = StaffFactory(username="roleadmin", is_superuser=True)
    client.force_login(admin)
    perm = Permission.objects.get(codename="view_auditevent")
    seen = _seen()
    client.post("/admin/auth/group/add/", {"name": "Reviewers", "permissions": [perm.pk]})
    role = Group.objects.get(name="Reviewers")
    created, granted = _added_since(seen)
    assert created.action == "role.created" and created.resource_id == str(role.pk)
    assert created.changes == {"name": {"before": None, "after": "Reviewers"}}
    assert granted.action == "role.permissions_changed"
    assert granted.changes == {"permissions": {"before": [],
                                               "after": ["logcenter.view_auditevent"]}}

    seen = _seen()
    client.post(f"/admin/auth/group/{role.pk}/change/", {"name": "Auditors of audits",
                                                         "permissions": [perm.pk]})
    [renamed] = _added_since(seen)
    assert renamed.action == "role.renamed" and renamed.resource_name == "Auditors of audits"
    assert renamed.changes == {"name": {"before": "Reviewers", "after": "Auditors of audits"}}

    for name in ("ann", "bob"):
        MemberFactory(username=name).groups.add(role)
    seen = _seen()
    client.post(f"/admin/auth/group/{role.pk}/delete/", {"post": "yes"})
    [deleted] = _added_since(seen)
    assert deleted.action == "role.deleted" and deleted.actor_name == "roleadmin"
    assert deleted.changes == {
        "name": {"before": "Auditors of audits", "after": None},
        "permissions": {"before": ["logcenter.view_auditevent"], "after": None},
        "users": {"before": ["ann", "bob"], "after": None}}


def test_a_role_given_in_a_shell_is_audited_with_the_os_account(in_shell):
    user = MemberFactory(username="shelly")
    seen = _seen()
    user.groups.add(Group.objects.get(name="Support"))
    [event] = _added_since(seen)
    assert event.action == "user.role_changed"
    assert (event.actor_type, event.actor_name) == ("system", in_shell)
    assert event.details["via"] == "manage.py shell"
    assert (event.resource_type, event.resource_id, event.resource_name) == (
        "user", str(user.pk), "shelly")
    assert event.changes == {"roles": {"before": ["Member"], "after": ["Member", "Support"]}}


def test_set_clear_and_the_reverse_side_in_a_shell(in_shell):
    user = MemberFactory(username="setter")
    finance, support = Group.objects.get(name="Finance"), Group.objects.get(name="Support")
    seen = _seen()
    with admin_audit.audit_batch():  # a set() is a removal and an addition: one change
        user.groups.set([finance, support])
    assert [e.changes for e in _added_since(seen)] == [
        {"roles": {"before": ["Member"], "after": ["Finance", "Support"]}}]

    seen = _seen()
    user.groups.set([finance])  # outside a batch: the removal (nothing is added)
    assert [e.changes for e in _added_since(seen)] == [
        {"roles": {"before": ["Finance", "Support"], "after": ["Finance"]}}]

    other = MemberFactory(username="other")
    seen = _seen()
    finance.user_set.add(other)  # from the role's side: the user's roles changed
    assert [(e.resource_name, e.changes) for e in _added_since(seen)] == [
        ("other", {"roles": {"before": ["Member"], "after": ["Finance", "Member"]}})]

    seen = _seen()
    finance.user_set.clear()
    assert sorted((e.resource_name, e.changes["roles"]["after"])
                  for e in _added_since(seen)) == [("other", ["Member"]), ("setter", [])]

    seen = _seen()
    user.user_permissions.add(Permission.objects.get(codename="view_auditevent"))
    [event] = _added_since(seen)
    assert event.action == "user.permissions_changed"
    assert event.changes == {"permissions": {"before": [],
                                             "after": ["logcenter.view_auditevent"]}}


def test_keys_changed_and_deleted_in_a_shell(in_shell):
    owner = MemberFactory(username="keeper")
    key, _ = ApiKey.generate(owner=owner, name="svc", scopes=["read"])
    key.name, key.group = "svc-2", "batch"
    seen = _seen()
    key.save()
    [updated] = _added_since(seen)
    assert updated.action == "api_key.updated" and updated.actor_name == in_shell
    assert updated.changes == {"name": {"before": "svc", "after": "svc-2"},
                               "group": {"before": "default", "after": "batch"}}

    services.api_key_revoke(actor=None, key=key)
    key.status = ApiKey.Status.ACTIVE
    seen = _seen()
    key.save(update_fields=["status"])
    [reactivated] = _added_since(seen)
    assert reactivated.action == "api_key.reactivated"
    assert reactivated.changes == {"status": {"before": "revoked", "after": "active"}}

    prefix = key.prefix
    seen = _seen()
    key.delete()
    [deleted] = _added_since(seen)
    assert (deleted.action, deleted.resource_id, deleted.resource_name) == (
        "api_key.deleted", prefix, "svc-2")
    assert deleted.changes["scopes"] == {"before": ["read"], "after": None}
    assert "secret_hash" not in deleted.changes


def test_deleting_a_user_also_audits_the_keys_that_go_with_it(in_shell):
    owner = MemberFactory(username="leaver")
    key, _ = ApiKey.generate(owner=owner, name="theirs", scopes=["read"])
    seen = _seen()
    owner.delete()
    events = {e.action: e for e in _added_since(seen)}
    assert set(events) == {"api_key.deleted", "user.deleted"}
    assert events["api_key.deleted"].resource_id == key.prefix
    assert events["api_key.deleted"].details["owner"] == "leaver"
    assert events["user.deleted"].changes["roles"] == {"before": ["Member"], "after": None}
    assert events["user.deleted"].changes["username"] == {"before": "leaver", "after": None}


def test_create_api_key_command_is_audited(monkeypatch, capsys):
    monkeypatch.setattr(sys, "argv", ["manage.py", "create_api_key"])
    MemberFactory(username="cronowner")
    seen = _seen()
    call_command("create_api_key", "--user", "cronowner", "--name", "nightly",
                 "--scopes", "read")
    secret = capsys.readouterr().out.strip()
    key = ApiKey.objects.get(name="nightly")
    [event] = _added_since(seen)
    assert event.action == "api_key.created" and event.actor_type == "system"
    assert event.actor_name == getpass.getuser()
    assert event.details == {"owner": "cronowner", "prefix": key.prefix,
                             "via": "manage.py create_api_key"}
    assert (event.resource_id, event.resource_name) == (key.prefix, "nightly")
    assert event.changes["owner"] == {"before": None, "after": "cronowner"}
    assert event.changes["scopes"] == {"before": None, "after": ["read"]}
    assert "secret_hash" not in event.changes and secret not in json.dumps(event.changes)


class StrongerHasher(MD5PasswordHasher):
    algorithm = "stronger"


def test_passwords_are_audited_as_changed_never_with_a_value(in_shell, settings):
    user = MemberFactory(username="pat")
    seen = _seen()
    user.set_password("New-Password-4471")
    user.save(update_fields=["password"])
    [event] = _added_since(seen)
    assert event.action == "user.password_changed"
    assert event.changes == {"password_hash": {"before": "[redacted]", "after": "[redacted]"}}

    # Django re-hashing a password at sign-in (a stronger hasher) changes nothing.
    settings.PASSWORD_HASHERS = [f"{__name__}.StrongerHasher",
                                 "django.contrib.auth.hashers.MD5PasswordHasher"]
    seen = _seen()
    assert user.check_password("New-Password-4471")
    user.refresh_from_db()
    assert user.password.startswith("stronger$") and _added_since(seen) == []


def test_signing_in_is_no_administrative_change(client):
    MemberFactory(username="regular")
    seen = _seen()
    client.post("/accounts/login/", {"username": "regular",
                                     "password": "correct-horse-battery"})
    assert "_auth_user_id" in client.session
    assert _added_since(seen) == []


def test_retention_policies_changed_in_a_shell(in_shell):
    from logcenter.models import RetentionPolicy

    seen = _seen()
    policy = RetentionPolicy.for_kind("auth")  # the default, stored on first read: no event
    assert _added_since(seen) == []
    policy.legal_hold = True
    policy.save()
    [event] = _added_since(seen)
    assert (event.action, event.category, event.resource_id, event.resource_name) == (
        "retention.updated", "config", "auth", "auth retention")
    assert event.changes == {"legal_hold": {"before": False, "after": True}}


def test_suppressed_changes_write_nothing():
    seen = _seen()
    with admin_audit.suppressed():
        user = MemberFactory(username="demo-person")
        ApiKey.generate(owner=user, name="demo", scopes=["read"])
        user.delete()
    assert _added_since(seen) == []


def test_unlisted_action_names_are_refused():
    with pytest.raises(ValueError, match="AuditAction"):
        audit_event_record(action="user.renamed_somehow")


def test_every_kind_has_its_log_read_actions():
    from logcenter.core.audit_actions import checked
    from logcenter.core.registry import registry

    for kind in registry:
        for verb in ("viewed", "exported"):
            assert checked(f"{kind.slug}_log.{verb}") == f"{kind.slug}_log.{verb}"
    with pytest.raises(ValueError, match="AuditAction"):
        checked("fax_log.viewed")
