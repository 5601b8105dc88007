"""Writes of the console's per-user settings: saved views and the column chooser.

A saved view is validated as the list query it is (LogQuery: the same strict parameters,
the same role rules) and stored resolved (filters and window, sort, columns, page size).
Creating, changing or deleting a view shared with a role is an audited administrative
change (its holders' lists change); a private view is the owner's own business.
"""

from django.contrib.auth.models import Group
from django.db import transaction
from django.utils.translation import gettext

from logcenter.core import admin_audit
from logcenter.core.audit_actions import AuditAction
from logcenter.core.query import PAGING, InvalidLogQuery, LogQuery
from logcenter.core.presentation import DISPLAY
from logcenter.core.services import audit_event_record
from logcenter.models import ColumnPreference, SavedView

NAME_MAX_LENGTH = SavedView._meta.get_field("name").max_length
AUDITED_FIELDS = ("name", "kind", "filters", "ordering", "columns", "page_size",
                  "shared_with_role", "is_default")


class SavedViewError(ValueError):
    """`errors`: {field: [reasons]}, the fields of a view as the API takes it (a 400 in the
    API, a message on the page); a bad filter is `{"filters": {parameter: [reasons]}}`."""

    def __init__(self, errors):
        super().__init__(errors)
        self.errors = errors


def shareable_roles(user):
    """The roles `user` may share a view with: their own (every role for a superuser)."""
    return Group.objects.all() if user.is_superuser else user.groups.all()


def _name(name):
    name = (name or "").strip()
    if not name or len(name) > NAME_MAX_LENGTH or "\x00" in name:
        raise SavedViewError({"name": [gettext(
            "Give the view a name of 1 to {n} characters.").format(n=NAME_MAX_LENGTH)]})
    return name


def _role(user, role):
    """The Group `role` names (a Group, its name or id), or None: private."""
    if role in (None, ""):
        return None
    roles = shareable_roles(user)
    found = (roles.filter(pk=role.pk) if isinstance(role, Group)
             else roles.filter(pk=int(role)) if str(role).isdigit()
             else roles.filter(name=str(role)))
    found = found.first()
    if found is None:
        raise SavedViewError({"shared_with_role": [gettext(
            "You may share a view only with one of your roles.")]})
    return found


# The parameters of a list query that are a view's own fields; every other one is a filter.
OWN_FIELDS = ("ordering", "columns", "page_size")


def _query_errors(exc):
    """A bad list query's reasons under the view's fields: its sort, columns and page size
    by their names, the rest (filters, window, unknown parameters) under `filters`."""
    errors, filters = {}, {}
    for name, reasons in exc.api_errors().items():
        (errors if name in OWN_FIELDS else filters)[name] = reasons
    if filters:
        errors["filters"] = filters
    return SavedViewError(errors)


def _query_fields(kind, user, params):
    """The view's stored fields from a list query (validated: SavedViewError)."""
    try:
        query = LogQuery.parse(kind, user, params)
    except InvalidLogQuery as exc:
        raise _query_errors(exc) from None
    skip = PAGING | DISPLAY
    return {
        "filters": {k: v for k, v in query.params.lists() if k not in skip and v != [""]},
        "ordering": query.params.get("ordering", "") or "",
        "columns": list(query.columns or ()),
        "page_size": query.page_size if query.params.get("page_size") else None,
    }


def _snapshot(view):
    return {name: (view.shared_with_role.name if view.shared_with_role else None)
            if name == "shared_with_role" else getattr(view, name) for name in AUDITED_FIELDS}


def _audit(action, view, before, after):
    """A shared view's change as an audit event (private before and after: none)."""
    shared = (before or {}).get("shared_with_role") or (after or {}).get("shared_with_role")
    if not shared:
        return
    changes = {name: {"before": (before or {}).get(name), "after": (after or {}).get(name)}
               for name in AUDITED_FIELDS
               if (before or {}).get(name) != (after or {}).get(name)}
    if not changes:
        return
    actor, actor_type = admin_audit.current_actor()
    audit_event_record(action=action, actor=actor, actor_type=actor_type, category="config",
                       resource_type="saved_view", resource_id=str(view.pk),
                       resource_name=view.name, changes=changes,
                       details={"owner": view.owner.username, "via": admin_audit.current_via()})


def _make_default(view):
    SavedView.objects.filter(owner=view.owner, kind=view.kind, is_default=True).exclude(
        pk=view.pk).update(is_default=False)


@transaction.atomic
def saved_view_create(*, user, kind, name, params, role=None, is_default=False):
    """A new view of `kind` holding the list query `params` (a `view` in it is applied
    first). SavedViewError for a bad name, role or parameter."""
    view = SavedView(owner=user, kind=kind.slug, name=_name(name), shared_with_role=_role(
        user, role), is_default=bool(is_default), **_query_fields(kind, user, params))
    if view.is_default:
        _make_default(view)
    view.save()
    _audit(AuditAction.SAVED_VIEW_CREATED, view, None, _snapshot(view))
    return view


@transaction.atomic
def saved_view_update(view, *, user, kind=None, name=None, params=None, role=..., is_default=None):
    """Rename, re-share, make default or replace the query of the owner's view."""
    if view.owner_id != user.pk:
        raise SavedViewError({"view": [gettext("Only its owner may change a view.")]})
    before = _snapshot(view)
    if name is not None:
        view.name = _name(name)
    if role is not ...:
        view.shared_with_role = _role(user, role)
    if params is not None:
        for field, value in _query_fields(kind or _kind(view), user, params).items():
            setattr(view, field, value)
    if is_default is not None:
        view.is_default = bool(is_default)
        if view.is_default:
            _make_default(view)
    view.save()
    _audit(AuditAction.SAVED_VIEW_UPDATED, view, before, _snapshot(view))
    return view


@transaction.atomic
def saved_view_delete(view, *, user):
    if view.owner_id != user.pk:
        raise SavedViewError({"view": [gettext("Only its owner may delete a view.")]})
    before, pk = _snapshot(view), view.pk
    view.delete()
    view.pk = pk
    _audit(AuditAction.SAVED_VIEW_DELETED, view, before, None)


def _kind(view):
    from logcenter.core.registry import registry

    return registry[view.kind]


def columns_remember(*, user, kind, columns):
    """Remember the columns the user chose for the kind's table; an empty choice forgets
    it (the table's own columns again). `columns` is validated by the caller
    (presentation.parse_columns)."""
    if not columns:
        ColumnPreference.objects.filter(user=user, kind=kind.slug).delete()
        return None
    choice, _ = ColumnPreference.objects.update_or_create(
        user=user, kind=kind.slug, defaults={"columns": list(columns)})
    return choice
