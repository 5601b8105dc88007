"""Audited administration: every change to an audited model is an audit event, wherever it
is made (console, Django admin, shell, management command, task).

One mechanism: model signals. A model is audited by registering an `Audited` description
of it (accounts.signals registers users, roles and API keys; logcenter.signals the
retention policies); the signals then write, for each save, delete or many-to-many edit,
one event in one shape:

- the actor: the user of `acting_as(actor)` (services), else the signed-in user of the
  request, else the operating-system account of the process (`actor_type` "system");
- the resource: `resource_type`, `resource_id` and `resource_name` of the changed object;
- `changes`: `{field: {"before": …, "after": …}}`, every field on creation (before None)
  and deletion (after None), the changed ones otherwise; secrets only as "[redacted]";
- `details.via`: "admin", "console" or "api" for a request, else the process
  ("manage.py shell", "manage.py create_api_key", "celery", …);
- the action, from logcenter.audit_actions.AuditAction.

Not seen by signals (so not audited): QuerySet.update(), bulk_create() and raw SQL.
"""

import datetime
import decimal
import getpass
import os
import sys
import uuid
from collections.abc import Callable
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field

from django.db.models.signals import m2m_changed, post_delete, post_save, pre_delete, pre_save
from django.urls import NoReverseMatch, reverse

from logcenter.core import request_context
from logcenter.core.audit_actions import checked
from logcenter.models import ActorType
from logcenter.core.services import REDACTED, audit_event_record

_actor: ContextVar[object] = ContextVar("admin_audit_actor", default=None)
_via: ContextVar[str] = ContextVar("admin_audit_via", default="")
# Many-to-many edits waiting for their "after": {(through, owner pk): _Pending}.
_batch: ContextVar[dict | None] = ContextVar("admin_audit_batch", default=None)
_open: ContextVar[dict | None] = ContextVar("admin_audit_open", default=None)


@dataclass(frozen=True)
class Relation:
    """A many-to-many field of an audited model, audited as one list of names."""

    field: str  # the field on the audited model ("groups")
    key: str  # its name in `changes` ("roles")
    action: str  # AuditAction of an edit
    names: Callable  # manager -> sorted list of the related objects' names


@dataclass(frozen=True)
class Audited:
    model: type
    resource_type: str
    created: str
    updated: str
    deleted: str
    category: str = ""
    resource_id: Callable = lambda obj: str(obj.pk)
    resource_name: Callable = str
    # Fields never compared (a policy's updated_at, set on every save).
    ignore: tuple = ()
    # A save of only these fields is bookkeeping, not an administrator's change (a
    # sign-in's last_login); changed by any other save, they are recorded.
    bookkeeping: tuple = ()
    # (instance, update_fields) -> True for a save that is nobody's change (a rehash).
    quiet: Callable | None = None
    # Secret fields: a change is recorded under the given key, never with its values.
    secret: dict = field(default_factory=dict)
    # changes -> the action naming them when it is not `updated` (a revocation, …), or None.
    transition: Callable | None = None
    relations: tuple = ()
    # What a deletion takes with it beyond the object's own fields, (key, obj -> list):
    # the users who lose a deleted role.
    lost: tuple = ()
    details: Callable | None = None

    def fields(self):
        return [f for f in self.model._meta.concrete_fields
                if not f.primary_key and f.name not in self.ignore]


REGISTRY: dict[type, Audited] = {}
_THROUGH: dict[type, tuple[Audited, Relation]] = {}


def register(spec: Audited):
    """Audit every change to `spec.model` (once per model)."""
    for action in (spec.created, spec.updated, spec.deleted,
                   *(rel.action for rel in spec.relations)):
        checked(action)
    REGISTRY[spec.model] = spec
    uid = f"admin_audit:{spec.model._meta.label}"
    pre_save.connect(_before_save, sender=spec.model, dispatch_uid=uid)
    post_save.connect(_after_save, sender=spec.model, dispatch_uid=uid)
    pre_delete.connect(_before_delete, sender=spec.model, dispatch_uid=uid)
    post_delete.connect(_after_delete, sender=spec.model, dispatch_uid=uid)
    for rel in spec.relations:
        through = spec.model._meta.get_field(rel.field).remote_field.through
        _THROUGH[through] = (spec, rel)
        m2m_changed.connect(_relation_changed, sender=through, dispatch_uid=f"{uid}.{rel.field}")
    return spec


# Who acts, and where ---------------------------------------------------------------------

suppressed = request_context.audit_suppressed  # the name the callers know


@contextmanager
def acting_as(actor=None, *, via=""):
    """Changes made inside are `actor`'s (a user; None keeps the request's or the
    process's), made through `via` when given."""
    tokens = []
    if actor is not None:
        tokens.append((_actor, _actor.set(actor)))
    if via:
        tokens.append((_via, _via.set(via)))
    try:
        yield
    finally:
        for var, token in reversed(tokens):
            var.reset(token)


class SystemActor:
    """Whoever runs the process when no console user acts: its operating-system account."""

    pk = ""

    def __init__(self, name):
        self.name = name

    def __str__(self):
        return self.name


def _os_user():
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no passwd entry (some containers)
        return f"uid {os.getuid()}" if hasattr(os, "getuid") else ""


def current_actor():
    """(actor, actor_type) of a change made now."""
    actor = _actor.get() or request_context.current().user
    if actor is not None:
        return actor, None
    return SystemActor(_os_user()), ActorType.SYSTEM


def current_via():
    if _via.get():
        return _via.get()
    request = request_context.current().request
    if request is not None:
        try:
            admin_root = reverse("admin:index")
        except NoReverseMatch:
            admin_root = "/admin/"
        if request.path.startswith(admin_root):
            return "admin"
        return "api" if request.path.startswith("/api/") else "console"
    argv = sys.argv or [""]
    program = os.path.basename(argv[0])
    if program in ("manage.py", "django-admin") or argv[0].endswith(
            os.path.join("django", "__main__.py")):
        return f"manage.py {argv[1] if len(argv) > 1 else ''}".strip()
    return program or "python"


def record(action, obj, *, changes, details=None, actor=None):
    """An audited change that is no model save (an unlock): same shape, same actor."""
    with acting_as(actor):
        _write(REGISTRY[type(obj)], action, _resource(REGISTRY[type(obj)], obj), changes,
               details)


def _resource(spec, obj):
    return {"resource_type": spec.resource_type, "resource_id": str(spec.resource_id(obj)),
            "resource_name": str(spec.resource_name(obj)),
            "details": spec.details(obj) if spec.details else {}}


def _write(spec, action, resource, changes, details=None):
    actor, actor_type = current_actor()
    audit_event_record(
        action=action, actor=actor, actor_type=actor_type, category=spec.category,
        resource_type=resource["resource_type"], resource_id=resource["resource_id"],
        resource_name=resource["resource_name"], changes=changes,
        details={**resource["details"], **(details or {}), "via": current_via()},
    )


# Field values ----------------------------------------------------------------------------

def _name(obj):
    """How a related object is written: a user by username, anything else by str()."""
    get_username = getattr(obj, "get_username", None)
    return get_username() if get_username else str(obj)


def _plain(value):
    if isinstance(value, (datetime.datetime, datetime.date, datetime.time)):
        return value.isoformat()
    if isinstance(value, (decimal.Decimal, uuid.UUID)):
        return str(value)
    return value


def _snapshot(spec, obj, names=None):
    """{key: value} of the audited fields (only `names` when given)."""
    values = {}
    for f in spec.fields():
        if names is not None and f.name not in names and f.attname not in names:
            continue
        if f.is_relation:
            related = getattr(obj, f.name)
            value = None if related is None else _name(related)
        else:
            value = _plain(getattr(obj, f.attname))
        values[spec.secret.get(f.name, f.name)] = value
    return values


def _diff(spec, before, after):
    secrets = set(spec.secret.values())
    return {key: ({"before": REDACTED, "after": REDACTED} if key in secrets
                  else {"before": before[key], "after": value})
            for key, value in after.items() if key in before and before[key] != value}


def _fk_names(spec):
    return [f.name for f in spec.fields() if f.is_relation]


# Saves and deletes -----------------------------------------------------------------------

def _before_save(sender, instance, raw=False, update_fields=None, **kwargs):
    instance._audit_before = None
    if (raw or request_context.is_audit_suppressed() or instance._state.adding
            or instance.pk is None):
        return
    spec = REGISTRY[sender]
    if update_fields is not None and set(update_fields) <= {*spec.ignore, *spec.bookkeeping}:
        return  # a sign-in's last_login, a key's last use: not an administrative change
    if spec.quiet is not None and spec.quiet(instance, update_fields):
        return
    old = (sender._base_manager.select_related(*_fk_names(spec))
           .filter(pk=instance.pk).first())
    if old is not None:
        instance._audit_before = _snapshot(spec, old, update_fields)


def _after_save(sender, instance, created, raw=False, update_fields=None, **kwargs):
    if raw or request_context.is_audit_suppressed():
        return
    spec = REGISTRY[sender]
    if created:
        secrets = set(spec.secret.values())
        changes = {key: {"before": None, "after": value}
                   for key, value in _snapshot(spec, instance).items() if key not in secrets}
        _write(spec, spec.created, _resource(spec, instance), changes)
        return
    before = instance.__dict__.pop("_audit_before", None)
    if before is None:
        return
    changes = _diff(spec, before, _snapshot(spec, instance, update_fields))
    if changes:
        action = (spec.transition and spec.transition(changes)) or spec.updated
        _write(spec, action, _resource(spec, instance), changes)


def _before_delete(sender, instance, **kwargs):
    # Before anything goes: the related rows (a role's users) are still there.
    if request_context.is_audit_suppressed():
        return
    spec = REGISTRY[sender]
    secrets = set(spec.secret.values())
    changes = {key: {"before": value, "after": None}
               for key, value in _snapshot(spec, instance).items() if key not in secrets}
    for rel in spec.relations:
        changes[rel.key] = {"before": rel.names(getattr(instance, rel.field)), "after": None}
    for key, lost in spec.lost:
        changes[key] = {"before": lost(instance), "after": None}
    instance._audit_deleting = (_resource(spec, instance), changes)


def _after_delete(sender, instance, **kwargs):
    deleting = instance.__dict__.pop("_audit_deleting", None)
    if deleting is not None and not request_context.is_audit_suppressed():
        spec = REGISTRY[sender]
        _write(spec, spec.deleted, *deleting)


# Many-to-many edits ----------------------------------------------------------------------

@dataclass
class _Pending:
    spec: Audited
    rel: Relation
    owner: object
    before: list


@contextmanager
def audit_batch():
    """Many-to-many edits made inside are written when it ends, one event per object and
    field, from its first "before" to its last "after": a `set()` (a removal, then an
    addition) is then one change. The audited admin saves each form's relations in one."""
    if _batch.get() is not None:
        yield
        return
    pending = {}
    token = _batch.set(pending)
    try:
        yield
    finally:
        _batch.reset(token)
    for entry in pending.values():
        _emit(entry)


def _owners(spec, rel, instance, reverse, action, pk_set):
    """The audited objects whose relation changes (the other side when edited from it)."""
    if not reverse:
        return [instance]
    if action.endswith("_clear"):
        return list(spec.model._base_manager.filter(**{rel.field: instance}))
    return list(spec.model._base_manager.filter(pk__in=pk_set or ()))


def _relation_changed(sender, instance, action, reverse, pk_set, **kwargs):
    if request_context.is_audit_suppressed() or action not in (
            "pre_add", "pre_remove", "pre_clear", "post_add", "post_remove", "post_clear"):
        return
    spec, rel = _THROUGH[sender]
    batch = _batch.get()
    if action.startswith("pre_"):
        waiting = _open.get() if batch is None else batch
        if waiting is None:
            waiting = {}
            _open.set(waiting)
        for owner in _owners(spec, rel, instance, reverse, action, pk_set):
            key = (sender, owner.pk)
            if batch is None or key not in batch:  # a batch keeps the first "before"
                waiting[key] = _Pending(spec, rel, owner, rel.names(getattr(owner, rel.field)))
        return
    if batch is not None:
        return  # written when the batch ends
    waiting = _open.get() or {}
    for key in [key for key in waiting if key[0] is sender]:
        _emit(waiting.pop(key))


def _emit(entry):
    owner = entry.owner
    if not type(owner)._base_manager.filter(pk=owner.pk).exists():
        return  # deleted meanwhile: its deletion event says what it had
    after = entry.rel.names(getattr(owner, entry.rel.field))
    if after != entry.before:
        _write(entry.spec, entry.rel.action, _resource(entry.spec, owner),
               {entry.rel.key: {"before": entry.before, "after": after}})


class AuditedAdminMixin:
    """For every ModelAdmin of the project: a form's many-to-many fields are saved as one
    change each (Django saves them with set(): a removal and an addition)."""

    def save_related(self, request, form, formsets, change):
        with audit_batch():
            super().save_related(request, form, formsets, change)
