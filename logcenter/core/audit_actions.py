"""The one list of the audit actions the console writes itself.

Every writer names its action from here; `audit_event_record` refuses any other, so a
misspelt or invented name fails its test instead of splitting the audit trail. (Audit
events that services send through ingestion carry their own actions: they are not ours.)
"""

from django.db import models


class AuditAction(models.TextChoices):
    # Users (accounts.User): fields, sign-in lock, roles and own permissions.
    USER_ADDED = "user.added", "User added"
    USER_UPDATED = "user.updated", "User updated"
    USER_ENABLED = "user.enabled", "User enabled"
    USER_DISABLED = "user.disabled", "User disabled"
    USER_PASSWORD_CHANGED = "user.password_changed", "User's password changed"
    USER_DELETED = "user.deleted", "User deleted"
    USER_UNLOCKED = "user.unlocked", "User's sign-in unlocked"
    USER_ROLE_CHANGED = "user.role_changed", "User's roles changed"
    USER_PERMISSIONS_CHANGED = "user.permissions_changed", "User's own permissions changed"
    # Roles (Django groups).
    ROLE_CREATED = "role.created", "Role created"
    ROLE_RENAMED = "role.renamed", "Role renamed"
    ROLE_DELETED = "role.deleted", "Role deleted"
    ROLE_PERMISSIONS_CHANGED = "role.permissions_changed", "Role's permissions changed"
    # API keys (accounts.ApiKey).
    API_KEY_CREATED = "api_key.created", "API key created"
    API_KEY_UPDATED = "api_key.updated", "API key updated"
    API_KEY_REVOKED = "api_key.revoked", "API key revoked"
    API_KEY_REACTIVATED = "api_key.reactivated", "API key re-activated"
    API_KEY_DELETED = "api_key.deleted", "API key deleted"
    # Organizations, their projects and members, and the plans (accounts).
    ORGANIZATION_CREATED = "organization.created", "Organization created"
    ORGANIZATION_UPDATED = "organization.updated", "Organization updated"
    ORGANIZATION_PLAN_CHANGED = "organization.plan_changed", "Organization's plan changed"
    ORGANIZATION_LEGAL_HOLD_CHANGED = ("organization.legal_hold_changed",
                                       "Organization's legal hold changed")
    ORGANIZATION_DELETED = "organization.deleted", "Organization deleted"
    PROJECT_CREATED = "project.created", "Project created"
    PROJECT_UPDATED = "project.updated", "Project updated"
    PROJECT_DELETED = "project.deleted", "Project deleted"
    MEMBER_ADDED = "organization.member_added", "Member added to an organization"
    MEMBER_ROLE_CHANGED = "organization.member_role_changed", "Member's organization role changed"
    MEMBER_REMOVED = "organization.member_removed", "Member removed from an organization"
    PLAN_CREATED = "plan.created", "Plan created"
    PLAN_UPDATED = "plan.updated", "Plan updated"
    PLAN_DELETED = "plan.deleted", "Plan deleted"
    # Retention (logcenter.RetentionPolicy) and deleting history.
    RETENTION_CREATED = "retention.created", "Retention policy created"
    RETENTION_UPDATED = "retention.updated", "Retention policy updated"
    RETENTION_DELETED = "retention.deleted", "Retention policy deleted"
    LOGS_HISTORY_DELETED = "logs.history_deleted", "Log history deletion requested"
    # Saved views shared with a role (logcenter.core.saved_views); private ones are not.
    SAVED_VIEW_CREATED = "saved_view.created", "Shared view created"
    SAVED_VIEW_UPDATED = "saved_view.updated", "Shared view updated"
    SAVED_VIEW_DELETED = "saved_view.deleted", "Shared view deleted"
    # Log stream destinations (logcenter.streams).
    DESTINATION_CREATED = "destination.created", "Stream destination created"
    DESTINATION_UPDATED = "destination.updated", "Stream destination updated"
    DESTINATION_CREDENTIALS_CHANGED = ("destination.credentials_changed",
                                       "Stream destination's credentials changed")
    DESTINATION_PAUSED = "destination.paused", "Stream destination paused"
    DESTINATION_RESUMED = "destination.resumed", "Stream destination resumed"
    DESTINATION_REPLAYED = "destination.replayed", "Stream destination replayed"
    DESTINATION_DELETED = "destination.deleted", "Stream destination deleted"
    # Reading the logs (logcenter.core.services.log_read_record: "<kind>_log.<verb>", one of
    # LOG_READ_VERBS): `checked` takes them for every registered kind; the first four kinds'
    # are written out for their labels.
    AUDIT_LOG_VIEWED = "audit_log.viewed", "Audit record viewed"
    AUDIT_LOG_EXPORTED = "audit_log.exported", "Audit log exported"
    USAGE_LOG_VIEWED = "usage_log.viewed", "Usage record viewed"
    USAGE_LOG_EXPORTED = "usage_log.exported", "Usage log exported"
    AUTH_LOG_VIEWED = "auth_log.viewed", "Sign-in record viewed"
    AUTH_LOG_EXPORTED = "auth_log.exported", "Sign-in log exported"
    SYSTEM_LOG_VIEWED = "system_log.viewed", "System event viewed"
    SYSTEM_LOG_EXPORTED = "system_log.exported", "System log exported"


LOG_READ_VERBS = ("viewed", "exported")


def log_read_actions():
    """"<kind>_log.<verb>" of every registered kind: derived, never listed."""
    from logcenter.core.registry import registry

    return {f"{kind.slug}_log.{verb}" for kind in registry for verb in LOG_READ_VERBS}


def checked(action) -> str:
    """`action` as stored, or ValueError when it is neither in AuditAction nor a kind's
    log-read action."""
    try:
        return AuditAction(action).value
    except ValueError:
        if action in log_read_actions():
            return action
        raise ValueError(f"Unknown audit action {action!r}: add it to "
                         "logcenter.core.audit_actions.AuditAction") from None
