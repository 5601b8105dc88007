"""Audited administration of users, roles and API keys: every change is an audit event,
whoever makes it (console, Django admin, shell, management command), with before/after
values. The mechanism is logcenter.core.admin_audit; this module says what is audited."""

from django.contrib.auth.models import Group
from django.contrib.auth.signals import user_logged_out
from django.dispatch import receiver

from logcenter.core import admin_audit
from logcenter.core.admin_audit import Audited, Relation
from logcenter.core.audit_actions import AuditAction
from logcenter.core.services import auth_event_record

from accounts.models import ApiKey, Membership, Organization, Plan, Project, User

# Loading demo data, which writes its own audit history: no events for what it creates.
suppress_admin_audit = admin_audit.suppressed


def _names(manager):
    return sorted(manager.values_list("name", flat=True))


def _permissions(manager):
    return sorted(f"{app}.{codename}" for app, codename in
                  manager.values_list("content_type__app_label", "codename"))


def _user_action(changes):
    if "is_active" in changes:
        return AuditAction.USER_ENABLED if changes["is_active"]["after"] else \
            AuditAction.USER_DISABLED
    if set(changes) == {"password_hash"}:
        return AuditAction.USER_PASSWORD_CHANGED
    return None


def _rehash(user, update_fields):
    """Django re-hashing a password at sign-in (a stronger hasher): same password, no
    change. set_password() keeps the raw password in `_password` until the save; the
    re-hash clears it first (tests/accounts/test_audited_admin.py fails if that changes)."""
    return (update_fields is not None and set(update_fields) == {"password"}
            and getattr(user, "_password", None) is None)


def _key_action(changes):
    if "status" in changes:
        return AuditAction.API_KEY_REVOKED if changes["status"]["after"] == \
            ApiKey.Status.REVOKED else AuditAction.API_KEY_REACTIVATED
    return None


admin_audit.register(Audited(
    model=User, resource_type="user", category="user",
    created=AuditAction.USER_ADDED, updated=AuditAction.USER_UPDATED,
    deleted=AuditAction.USER_DELETED, transition=_user_action,
    resource_name=lambda user: user.get_username(),
    # The language and time zone a user picks for themselves (the switcher, their profile)
    # are preferences, not an administrator's change.
    bookkeeping=("last_login", "language", "timezone"), secret={"password": "password_hash"}, quiet=_rehash,
    relations=(
        Relation("groups", "roles", AuditAction.USER_ROLE_CHANGED, _names),
        Relation("user_permissions", "permissions", AuditAction.USER_PERMISSIONS_CHANGED,
                 _permissions),
    ),
))

# A key is known by its public prefix in every log (usage rows carry it as api_key_id).
# Every field is audited (the secret's hash only as changed), so a field added to ApiKey
# is audited without a word here.
admin_audit.register(Audited(
    model=ApiKey, resource_type="api_key", category="api_key",
    created=AuditAction.API_KEY_CREATED, updated=AuditAction.API_KEY_UPDATED,
    deleted=AuditAction.API_KEY_DELETED, transition=_key_action,
    resource_id=lambda key: key.prefix, resource_name=lambda key: key.name,
    bookkeeping=("last_used_at",), secret={"secret_hash": "secret_hash"},
    details=lambda key: {"owner": key.owner.get_username(), "prefix": key.prefix},
))

# Roles are Django groups. A deleted role names the users who lost it.
admin_audit.register(Audited(
    model=Group, resource_type="role", category="role",
    created=AuditAction.ROLE_CREATED, updated=AuditAction.ROLE_RENAMED,
    deleted=AuditAction.ROLE_DELETED, resource_name=lambda group: group.name,
    relations=(
        Relation("permissions", "permissions", AuditAction.ROLE_PERMISSIONS_CHANGED,
                 _permissions),
    ),
    lost=(("users", lambda group: sorted(group.user_set.values_list("username", flat=True))),),
))



def _organization_action(changes):
    # A plan change and a legal hold each have an action of their own: what a customer's
    # auditor and the retention purge ask about.
    if set(changes) == {"plan"}:
        return AuditAction.ORGANIZATION_PLAN_CHANGED
    if set(changes) == {"legal_hold"}:
        return AuditAction.ORGANIZATION_LEGAL_HOLD_CHANGED
    return None


# Organizations, projects and plans are known by their public ids, as log rows name them.
admin_audit.register(Audited(
    model=Organization, resource_type="organization", category="organization",
    created=AuditAction.ORGANIZATION_CREATED, updated=AuditAction.ORGANIZATION_UPDATED,
    deleted=AuditAction.ORGANIZATION_DELETED, transition=_organization_action,
    resource_id=lambda org: org.public_id, resource_name=lambda org: org.name,
))

admin_audit.register(Audited(
    model=Project, resource_type="project", category="organization",
    created=AuditAction.PROJECT_CREATED, updated=AuditAction.PROJECT_UPDATED,
    deleted=AuditAction.PROJECT_DELETED,
    resource_id=lambda project: project.public_id, resource_name=lambda project: project.name,
    details=lambda project: {"organization": project.organization.public_id},
))

# A membership is one user's place in one organization: known by the user.
admin_audit.register(Audited(
    model=Membership, resource_type="membership", category="organization",
    created=AuditAction.MEMBER_ADDED, updated=AuditAction.MEMBER_ROLE_CHANGED,
    deleted=AuditAction.MEMBER_REMOVED,
    resource_id=lambda membership: membership.user_id,
    resource_name=lambda membership: membership.user.get_username(),
    details=lambda membership: {"organization": membership.organization.public_id},
))

admin_audit.register(Audited(
    model=Plan, resource_type="plan", category="config",
    created=AuditAction.PLAN_CREATED, updated=AuditAction.PLAN_UPDATED,
    deleted=AuditAction.PLAN_DELETED, resource_id=lambda plan: plan.slug,
    resource_name=lambda plan: plan.name,
))

@receiver(user_logged_out)
def record_logout(sender, request, user, **kwargs):
    if user is not None:
        auth_event_record(event="logout", user=user)
