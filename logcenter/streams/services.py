"""Managing destinations: who may, and every change audited (logcenter.signals registers
Destination with admin_audit; a replay is recorded here).

Platform administrators (logcenter.change_destination) manage every destination. An
organization's owners and admins (streams.manage) manage their organization's, when its
plan includes streaming; the destination then carries only that organization's rows.
"""

from django.core.exceptions import PermissionDenied, ValidationError
from django.utils import timezone
from django.utils.translation import gettext

from logcenter.core import admin_audit
from logcenter.core.access import access_for, membership_of
from logcenter.core.audit_actions import AuditAction
from logcenter.core.events import event_type_filter
from logcenter.core.registry import registry
from logcenter.streams import delivery, secrets
from logcenter.streams.models import Destination
from logcenter.streams.protocols import CLASSES, protocol_class

MAX_BATCH_SIZE = 5000


def is_platform_manager(user):
    return (user.is_active and membership_of(user) is None
            and user.has_perm("logcenter.change_destination"))


def managed_organization(user):
    """The organization whose destinations `user` manages (owner or admin), or None."""
    membership = membership_of(user)
    if membership is not None and user.is_active and membership.has_permission("streams.manage"):
        return membership.organization
    return None


def can_manage_destinations(user):
    return is_platform_manager(user) or managed_organization(user) is not None


def manageable_destinations(user):
    """The destinations `user` may see and manage (none: PermissionDenied is the caller's)."""
    queryset = Destination.objects.select_related("organization", "created_by")
    if is_platform_manager(user):
        return queryset
    organization = managed_organization(user)
    if organization is None:
        return queryset.none()
    return queryset.filter(organization=organization)


def streaming_refusal(user):
    """Why `user` may not create or change destinations, or "" (the plan's word for an
    organization)."""
    if is_platform_manager(user):
        return ""
    organization = managed_organization(user)
    if organization is None:
        return gettext("Your role may not manage log streams.")
    if not organization.plan.streaming_allowed:
        return gettext("The {plan} plan does not include log streaming; an owner of your "
                       "organization can move it to a plan that does.").format(
                           plan=organization.plan.name)
    return ""


def check_manage(user, destination=None):
    why = streaming_refusal(user)
    if why:
        raise PermissionDenied(why)
    if destination is not None and not manageable_destinations(user).filter(
            pk=destination.pk).exists():
        raise PermissionDenied(gettext("This destination is not yours to manage."))


def _validate(user, values, credentials, destination):
    """ValidationError({field: [message]}) for every bad value."""
    errors = {}
    protocol = protocol_class(values.get("type"))
    if protocol is None:
        errors["type"] = [gettext("Choose one of: {choices}").format(
            choices=", ".join(CLASSES))]
    else:
        try:
            protocol.check_endpoint(values.get("endpoint", ""))
        except ValidationError as exc:
            errors["endpoint"] = exc.messages
        for name, field in protocol.credential_fields.items():
            # An optional secret (S3's keys: boto3's default chain without them) may be empty.
            if field.required and not credentials.get(name) and (
                    destination is None or destination.type != values["type"]):
                errors.setdefault(name, []).append(gettext("This field is required."))
    kinds = values.get("kinds") or []
    if not kinds:
        errors["kinds"] = [gettext("Choose at least one kind of log.")]
    for slug in kinds:
        kind = registry.get(slug)
        if kind is None or not access_for(user, kind).can_view:
            errors.setdefault("kinds", []).append(
                gettext("You may not read the {kind} logs.").format(kind=slug))
    if values.get("include_sensitive"):
        for slug in kinds:
            kind = registry.get(slug)
            if kind is not None and not access_for(user, kind).can_view_sensitive:
                errors.setdefault("include_sensitive", []).append(gettext(
                    "You may not see the {kind} logs' sensitive fields, so a destination "
                    "of yours may not send them.").format(kind=kind.label.lower()))
    for pattern in values.get("event_patterns") or []:
        if not any(event_type_filter(registry[s], pattern) is not None
                   for s in kinds if registry.get(s) is not None):
            errors.setdefault("event_patterns", []).append(gettext(
                "{pattern} matches no event of the chosen kinds.").format(pattern=pattern))
    size = values.get("batch_size") or 0
    if not 1 <= size <= MAX_BATCH_SIZE:
        errors["batch_size"] = [gettext("Between 1 and {most}.").format(most=MAX_BATCH_SIZE)]
    if errors:
        raise ValidationError(errors)


EDITABLE = ("name", "type", "endpoint", "options", "kinds", "event_patterns",
            "include_sensitive", "batch_size", "interval_seconds", "pause_after_minutes",
            "enabled")


def destination_save(user, values, *, credentials=None, destination=None, start=None):
    """Create (destination None) or change a destination from validated form values.
    `credentials`: the type's secrets as typed; an empty one keeps the stored value.
    `start`: a new destination's first event time (None: only what comes next).
    The saver becomes the owner when the owner is gone (the destination's rows are then
    read and masked as the saver sees them)."""
    check_manage(user, destination)
    credentials = credentials or {}
    _validate(user, values, credentials, destination)
    organization = managed_organization(user)
    creating = destination is None
    if creating:
        destination = Destination(created_by=user, organization=organization)
    elif destination.created_by is None or not destination.created_by.is_active:
        destination.created_by = user
    if organization is None and "organization" in values:  # a platform manager's choice
        destination.organization = values["organization"]
    for name in EDITABLE:
        if name in values:
            setattr(destination, name, values[name])
    stored = {} if creating else secrets.decrypt_or_empty(destination.credentials)
    wanted = protocol_class(destination.type).credential_fields
    merged = {name: credentials.get(name) or stored.get(name, "") for name in wanted}
    token = secrets.encrypt(merged)
    if token and (creating or merged != stored):
        destination.credentials = token
    if creating:
        kinds = delivery.destination_kinds(destination)
        destination.cursor = (delivery.cursor_at(kinds, start) if start is not None
                              else delivery.head_cursor(kinds))
    else:  # a kind added later starts with what comes next, not with its whole history
        added = [kind for kind in delivery.destination_kinds(destination)
                 if kind.slug not in destination.cursor]
        if added:
            destination.cursor = {**destination.cursor, **delivery.head_cursor(added)}
            destination.cursor_generation += 1  # a pump in flight keeps its old kinds' cursor
            Destination.objects.filter(pk=destination.pk).update(
                cursor=destination.cursor, cursor_generation=destination.cursor_generation)
    destination.full_clean(exclude=["cursor", "credentials", "options", "event_patterns"])
    with admin_audit.acting_as(user):
        destination.save()
    return destination


def destination_pause(user, destination):
    check_manage(user, destination)
    destination.paused_at = timezone.now()
    destination.paused_reason = gettext("Paused by {user}.").format(user=user.get_username())
    with admin_audit.acting_as(user):
        destination.save(update_fields=["paused_at", "paused_reason"])
    return destination


def destination_resume(user, destination):
    """Deliver again from the cursor (nothing within retention was lost while paused)."""
    check_manage(user, destination)
    why = delivery.refusal(destination)
    if why and destination.created_by_id == user.pk:
        raise PermissionDenied(why)
    if why:  # the owner is gone: the resumer takes the destination over
        destination.created_by = user
    destination.paused_at, destination.paused_reason = None, ""
    destination.enabled = True
    with admin_audit.acting_as(user):
        destination.save(update_fields=["paused_at", "paused_reason", "enabled", "created_by"])
    Destination.objects.filter(pk=destination.pk).update(
        consecutive_failures=0, failing_since=None, next_run_at=None)
    return destination


def parse_cursor(text, kinds):
    """"usage:120,audit:7" (or a cursor as the health view shows it) as {slug: id};
    ValidationError naming the first bad part."""
    cursor = {}
    for part in filter(None, (p.strip() for p in str(text).split(","))):
        slug, _, value = part.partition(":")
        if slug not in {k.slug for k in kinds} or not value.strip().isdigit():
            raise ValidationError({"cursor": [gettext(
                "{part} is not kind:id for one of this destination's kinds ({kinds}).").format(
                    part=part, kinds=", ".join(k.slug for k in kinds))]})
        cursor[slug] = int(value)
    if not cursor:
        raise ValidationError({"cursor": [gettext("Give kind:id for at least one kind.")]})
    return cursor


def cursor_text(cursor):
    return ",".join(f"{slug}:{value}" for slug, value in sorted(cursor.items()))


def destination_replay(user, destination, *, since=None, cursor=None):
    """Send again from a time (every row that occurred since) or from a cursor (kinds not
    named keep their position); audited with the cursor before and after."""
    check_manage(user, destination)
    kinds = delivery.destination_kinds(destination)
    if (since is None) == (cursor is None):
        raise ValidationError({"since": [gettext("Give a time or a cursor to replay from.")]})
    if since is not None:
        if since > timezone.now():
            raise ValidationError({"since": [gettext("The time is in the future.")]})
        position = delivery.cursor_at(kinds, since)
    else:
        position = {**destination.cursor, **parse_cursor(cursor, kinds)}
    before = dict(destination.cursor)
    Destination.objects.filter(pk=destination.pk).update(
        cursor=position, cursor_generation=destination.cursor_generation + 1,
        next_run_at=None, consecutive_failures=0, failing_since=None)
    destination.refresh_from_db()
    admin_audit.record(
        AuditAction.DESTINATION_REPLAYED, destination, actor=user,
        changes={"cursor": {"before": cursor_text(before), "after": cursor_text(position)}},
        details={"since": since.isoformat() if since is not None else None})
    return destination


def destination_delete(user, destination):
    check_manage(user, destination)
    with admin_audit.acting_as(user):
        destination.delete()
