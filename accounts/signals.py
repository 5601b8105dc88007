"""Audited administration: changes to users, roles and permissions become audit events,
whoever makes them (console, Django admin, shell), with before/after values."""

from contextlib import contextmanager
from contextvars import ContextVar

from django.contrib.auth.models import Group
from django.contrib.auth.signals import user_logged_out
from django.db.models.signals import m2m_changed, post_delete, post_save, pre_save
from django.dispatch import receiver

from logcenter import request_context
from logcenter.services import audit_event_record, auth_event_record

from .models import User

_suppressed: ContextVar[bool] = ContextVar("admin_audit_suppressed", default=False)


@contextmanager
def suppress_admin_audit():
    """For loading demo data, which writes its own audit history: no events for the
    users and roles it creates."""
    token = _suppressed.set(True)
    try:
        yield
    finally:
        _suppressed.reset(token)


AUDITED_USER_FIELDS = ("username", "email", "display_name", "timezone", "is_active",
                       "is_staff", "is_superuser")


def _actor():
    return request_context.current().user


@receiver(pre_save, sender=User)
def remember_user_before(sender, instance, update_fields=None, **kwargs):
    instance._audit_before = None
    if _suppressed.get():
        return
    if instance.pk and not (update_fields and set(update_fields) <= {"last_login", "password"}):
        instance._audit_before = (
            User.objects.filter(pk=instance.pk).values(*AUDITED_USER_FIELDS).first()
        )


@receiver(post_save, sender=User)
def audit_user_saved(sender, instance, created, raw=False, **kwargs):
    if raw or _suppressed.get():
        return
    if created:
        audit_event_record(
            action="user.added", actor=_actor(), resource=instance, category="user",
            changes={f: {"before": None, "after": getattr(instance, f)}
                     for f in AUDITED_USER_FIELDS},
        )
        return
    before = getattr(instance, "_audit_before", None)
    if not before:
        return
    changes = {f: {"before": before[f], "after": getattr(instance, f)}
               for f in AUDITED_USER_FIELDS if before[f] != getattr(instance, f)}
    if not changes:
        return
    action = "user.updated"
    if set(changes) == {"is_active"}:
        action = "user.enabled" if instance.is_active else "user.disabled"
    audit_event_record(action=action, actor=_actor(), resource=instance, category="user",
                       changes=changes)


@receiver(post_delete, sender=User)
def audit_user_deleted(sender, instance, **kwargs):
    if _suppressed.get():
        return
    audit_event_record(action="user.deleted", actor=_actor(), resource=instance,
                       category="user",
                       changes={"username": {"before": instance.username, "after": None}})


@receiver(m2m_changed, sender=User.groups.through)
def audit_role_change(sender, instance, action, reverse, pk_set, **kwargs):
    if action not in ("post_add", "post_remove", "post_clear") or reverse or _suppressed.get():
        return
    # Group changes made through a group (reverse) are rare; the user side is audited.
    names = sorted(Group.objects.filter(pk__in=pk_set or []).values_list("name", flat=True))
    now = sorted(instance.groups.values_list("name", flat=True))
    if action == "post_add":
        before = sorted(set(now) - set(names))
    else:
        before = sorted(set(now) | set(names))
    audit_event_record(
        action="user.role_changed", actor=_actor(), resource=instance, category="user",
        changes={"roles": {"before": before, "after": now}},
    )


@receiver(m2m_changed, sender=Group.permissions.through)
def audit_permission_change(sender, instance, action, reverse, pk_set, **kwargs):
    if action not in ("post_add", "post_remove", "post_clear") or reverse or _suppressed.get():
        return
    if action != "post_clear" and not pk_set:
        return  # nothing granted or revoked (sync_roles re-adding what a role has): no event
    from django.contrib.auth.models import Permission

    perms = sorted(f"{p.content_type.app_label}.{p.codename}"
                   for p in Permission.objects.filter(pk__in=pk_set or [])
                   .select_related("content_type"))
    verb = {"post_add": "granted", "post_remove": "revoked", "post_clear": "cleared"}[action]
    audit_event_record(
        action=f"role.permissions_{verb}", actor=_actor(), resource=instance, category="role",
        resource_type="role", changes={"permissions": {
            "before": None if verb == "granted" else perms,
            "after": perms if verb == "granted" else None}},
    )


@receiver(user_logged_out)
def record_logout(sender, request, user, **kwargs):
    if user is not None:
        auth_event_record(event="logout", user=user)
