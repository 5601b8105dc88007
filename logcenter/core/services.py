"""Writes of the log kinds. Everything that records an event goes through here.

The console's own events (sign-ins, audited changes, task failures) take the request
context (request ID, client IP, user agent) from logcenter.request_context.
"""

import hashlib
import re

from django.utils import timezone, translation

from logcenter.ingest import ingestion
from logcenter.core import request_context
from logcenter.core.access import membership_of
from logcenter.core.audit_actions import checked
from logcenter.models import ActorType, AuditEvent, AuthEvent, Result, SystemEvent
from logcenter.core.registry import registry

SECRET_KEY_RE = re.compile(
    r"(^|_)(password|passwd|secret|token|authorization|session_key|api_key|raw_key)$",
    re.IGNORECASE,
)
REDACTED = "[redacted]"


def redact(value):
    """A copy of `value` with any secret-looking key's value replaced: secrets never
    reach a log row, whatever a caller passes in `changes` or `details`."""
    if isinstance(value, dict):
        return {k: (REDACTED if SECRET_KEY_RE.search(str(k)) else redact(v))
                for k, v in value.items()}
    if isinstance(value, list):
        return [redact(v) for v in value]
    return value


SECRET_TEXT_RE = re.compile(
    r"(lc_[A-Za-z0-9_\-]{16,})"  # our API keys
    r"|((?:bearer|token|password|passwd|secret|api[_-]?key)\s*[=: ]\s*)\S+",
    re.IGNORECASE,
)


def scrub_text(text: str) -> str:
    """Free text (exception messages) with key-like and password-like values removed."""
    return SECRET_TEXT_RE.sub(lambda m: (m.group(2) or "") + REDACTED, text or "")


def hash_secret(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest() if value else ""


def _record(kind_slug, **values):
    """Validate one of the console's own events with the ingestion rules and store it."""
    kind = registry[kind_slug]
    clean = ingestion.schema_for(kind).clean(
        ingestion.fitted(kind, {k: v for k, v in values.items() if v is not None}),
        timezone.now())
    source = ingestion.CONSOLE_SOURCE
    return kind.model.objects.create(**clean, ingested_by=source.ingested_by,
                                     ingested_by_name=source.name)


def usage_record_ingest(items, *, source=ingestion.CONSOLE_SOURCE):
    """Store usage events (a list of dicts); see ingestion.ingest."""
    return ingestion.ingest(items, kind_slug="usage", source=source)


def events_ingest(items, *, source=ingestion.CONSOLE_SOURCE):
    """Store a mixed batch; each item names its `kind`. `source`: the ingest key's."""
    return ingestion.ingest(items, source=source)


def actor_fields(actor=None, actor_type=None):
    """Snapshot of who acted, and the organization the event belongs to (theirs): kept
    even after the user is deleted."""
    if actor is None:
        return {"actor_type": actor_type or ActorType.SYSTEM, "actor_id": "", "actor_name": "",
                **organization_fields(None)}
    if getattr(actor, "is_authenticated", False) or hasattr(actor, "get_username"):
        return {"actor_type": ActorType.USER, "actor_id": str(actor.pk),
                "actor_name": actor.get_username(), **organization_fields(actor)}
    return {"actor_type": actor_type or ActorType.SERVICE,
            "actor_id": str(getattr(actor, "pk", "")), "actor_name": str(actor),
            **organization_fields(actor)}


def organization_fields(who=None):
    """{organization_id, project_id} of a console event about `who`: a customer's API key
    (`who` itself, or the key the request came with, acting for its owner) gives its
    project; a user in an organization gives it and its default project; anyone else
    (platform staff, services, the system) none: a platform row."""
    from accounts.models import ApiKey

    key = who if isinstance(who, ApiKey) else None
    if key is None and who is not None:
        request_key = getattr(request_context.current().request, "auth", None)
        if isinstance(request_key, ApiKey) and request_key.owner_id == getattr(who, "pk", None):
            key = request_key
    if key is not None and key.project_id is not None:
        return {"organization_id": key.project.organization.public_id,
                "project_id": key.project.public_id}
    membership = membership_of(who)
    if membership is None:
        return {"organization_id": "", "project_id": ""}
    project = membership.organization.default_project
    return {"organization_id": membership.organization.public_id,
            "project_id": project.public_id if project is not None else ""}


def request_fields():
    ctx = request_context.current()
    return {"request_id": ctx.request_id, "ip": ctx.ip, "user_agent": ctx.user_agent}


def audit_event_record(*, action, actor=None, resource=None, resource_type="", resource_id="",
                       resource_name="", result=Result.SUCCESS, reason="", changes=None,
                       details=None, category="", metadata=None, actor_type=None) -> AuditEvent:
    action = checked(action)  # one list of actions: logcenter.core.audit_actions.AuditAction
    if resource is not None:
        resource_type = resource_type or resource._meta.model_name
        resource_id = resource_id or str(resource.pk)
        resource_name = resource_name or str(resource)
    return _record(
        "audit",
        action=action,
        category=category or action.split(".")[0],
        resource_type=resource_type,
        resource_id=resource_id,
        resource_name=resource_name[:254],
        result=result,
        reason=reason,
        changes=redact(changes or {}),
        details=redact(details or {}),
        metadata=metadata or {},
        **actor_fields(actor, actor_type),
        **request_fields(),
    )


def auth_event_record(*, event, user=None, username_attempted="", result=Result.SUCCESS,
                      failure_reason="", identity_provider="password", session_key="",
                      actor=None, metadata=None) -> AuthEvent:
    return _record(
        "auth",
        event=event,
        user_id=str(user.pk) if user is not None else "",
        username_attempted=(username_attempted or (user.get_username() if user else ""))[:254],
        result=result,
        failure_reason=failure_reason,
        identity_provider=identity_provider,
        session_key_hash=hash_secret(session_key or ""),
        metadata=metadata or {},
        **{**actor_fields(actor if actor is not None else user),
           # The user's sign-in history belongs to their organization, whoever acted
           # (support unlocking them).
           **(organization_fields(user) if user is not None else {})},
        **request_fields(),
    )


def system_event_record(*, source, event, level=SystemEvent.Level.INFO, message="",
                        resource_type="", resource_id="", details=None,
                        organization=None) -> SystemEvent:
    """A platform event; `organization`: an event about that organization's own things
    (its log stream), which its admins then see."""
    values = actor_fields(None)
    if organization is not None:
        project = organization.default_project
        values.update(organization_id=organization.public_id,
                      project_id=project.public_id if project is not None else "")
    return _record(
        "system",
        source=source,
        event=event,
        level=level,
        message=message,
        resource_type=resource_type,
        resource_id=str(resource_id),
        details=redact(details or {}),
        **values,
        **request_fields(),
    )


def log_read_record(*, kind, user, row=None, action="viewed", details=None):
    """Reading the logs is itself audited (audit detail views, exports). The row's name
    and the kind's label are stored in English, whatever language the reader reads."""
    with translation.override(None):
        resource_name = str(row) if row is not None else str(kind.label)
    return audit_event_record(
        action=f"{kind.slug}_log.{action}",
        actor=user,
        category="log_access",
        resource_type=kind.model_name,
        resource_id=str(row.event_id) if row is not None else "",
        resource_name=resource_name,
        details=details or {},
    )


def log_detail_viewed(*, kind, user, row):
    """A face showed one row in full (the detail page, the API's detail): recorded for the
    kinds whose detail views are audited (LogKind.audit_detail_views)."""
    if kind.audit_detail_views:
        log_read_record(kind=kind, user=user, row=row)
