"""The list page's saved views and column chooser: what the page shows, and its forms.

The views are resolved where every face resolves them (logcenter.core.presentation, through
LogQuery); this module only renders the menu and takes its posts: save the current query
as a view, rename, share, make default or delete one's own, remember the columns.
"""

import django_tables2 as tables
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, QueryDict
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from logcenter.core import presentation, saved_views
from logcenter.core.access import access_for
from logcenter.core.registry import registry


def default_redirect(request, kind):
    """The bare tab (no parameter) with the user's default view applied, as a redirect to
    `?view=<id>` (so that the address, pages, export and API links all carry it); None
    when there is nothing to apply."""
    if request.GET or request.htmx:
        return None
    view = presentation.default_view(kind, request.user)
    if view is None:
        return None
    return redirect(f"{request.path}?view={view.pk}")


def shown_columns(kind, user, query):
    """The columns the table shows: `columns` or the view's, else the user's choice,
    else None (the table's own)."""
    if query is not None and query.columns:
        return query.columns
    remembered = presentation.remembered_columns(kind, user)
    if remembered:
        access = access_for(user, kind)
        try:  # a field the role no longer sees, or gone from the kind: left out
            return presentation.parse_columns(kind, access, [
                name for name in remembered
                if name in dict(presentation.available_columns(kind, access))])
        except presentation.InvalidPresentation:
            return None
    return None


def table_arguments(kind, access, columns):
    """The table's exclude, sequence and extra columns for `columns` (None: its own)."""
    hidden = set(access.hidden_fields)
    if not columns:
        return {"exclude": tuple(hidden)}
    base = list(kind.table.base_columns)
    labels = dict(presentation.available_columns(kind, access))
    return {
        "exclude": tuple(hidden | {name for name in base if name not in columns}),
        "extra_columns": [(name, tables.Column(verbose_name=labels[name]))
                          for name in columns if name not in base],
        "sequence": [*columns, "..."],
    }


def page_context(request, kind, access, query, columns):
    """What the saved-views menu and the column chooser render."""
    user = request.user
    views = list(presentation.views_visible(user, kind))
    shown = list(columns or [name for name in kind.table.base_columns
                             if name not in access.hidden_fields])
    return {
        "saved_views": views,
        "active_view": query.view if query is not None else None,
        "shareable_roles": list(saved_views.shareable_roles(user)),
        "column_choices": [(name, label, name in shown)
                           for name, label in presentation.available_columns(kind, access)],
        # What the table shows when not its own columns (asked for, the view's, or the
        # chooser's): a view saved from the page keeps them.
        "shown_columns": ",".join(columns) if columns else "",
        "explicit_columns": ",".join(query.columns) if query is not None and query.columns
        and "columns" in request.GET else "",
        "view_ordering": query.params.get("ordering", "") if query is not None
        and query.view is not None and "ordering" not in request.GET else "",
        "suggest_fields": [name for name in kind.suggestions],
        "suggest_url": f"/api/v1/{kind.api_name}/suggestions/",
        "list_url": reverse("logcenter:list", args=[kind.slug]),
    }


def _kind(slug, user):
    kind = registry.get(slug)
    if kind is None:
        raise Http404(_("No such log kind."))
    if not access_for(user, kind).can_view:
        raise PermissionDenied(_("Your role may not open the {kind} tab.").format(
            kind=kind.label))
    return kind


def _back(kind, query=""):
    url = reverse("logcenter:list", args=[kind.slug])
    return redirect(f"{url}?{query}" if query else url)


def _problems(errors):
    """A SavedViewError's {field: [reasons]} as one line; a bad filter's reasons, under
    `filters`, by the filter's name."""
    return "; ".join(_problems(reasons) if isinstance(reasons, dict)
                     else f"{name}: {' '.join(map(str, reasons))}"
                     for name, reasons in errors.items())


@login_required
@require_POST
def view_save(request, kind):
    """Save the list's query (sent as `query`) as a view, with the columns the table
    shows (`columns`)."""
    kind = _kind(kind, request.user)
    query = request.POST.get("query", "")[:8192]
    params = QueryDict(query, mutable=True)
    if request.POST.get("columns"):  # the columns shown, also when the chooser chose them
        params.setlist("columns", [request.POST["columns"][:8192]])
    try:
        view = saved_views.saved_view_create(
            user=request.user, kind=kind, name=request.POST.get("name", ""),
            params=params, role=request.POST.get("role") or None,
            is_default=request.POST.get("is_default") == "on")
    except saved_views.SavedViewError as exc:
        messages.error(request, _("The view was not saved: {problems}").format(
            problems=_problems(exc.errors)))
        return _back(kind, query)
    messages.success(request, _("View “{name}” saved.").format(name=view.name))
    return _back(kind, f"view={view.pk}")


@login_required
@require_POST
def view_change(request, kind, pk):
    """Rename, make default (or not), or delete one of one's own views."""
    kind = _kind(kind, request.user)
    view = presentation.views_visible(request.user, kind).filter(
        pk=pk, owner=request.user).first()
    if view is None:
        raise Http404(_("No such view."))
    action = request.POST.get("action", "")
    try:
        if action == "delete":
            saved_views.saved_view_delete(view, user=request.user)
            messages.success(request, _("View “{name}” deleted.").format(name=view.name))
            return _back(kind, "view=")
        if action == "rename":
            saved_views.saved_view_update(view, user=request.user,
                                          name=request.POST.get("name", ""))
        elif action in ("default", "undefault"):
            saved_views.saved_view_update(view, user=request.user,
                                          is_default=action == "default")
        else:
            raise Http404(_("No such action."))
    except saved_views.SavedViewError as exc:
        messages.error(request, _problems(exc.errors))
    return _back(kind, f"view={view.pk}")


@login_required
@require_POST
def columns_save(request, kind):
    """Remember the columns ticked in the chooser for this tab (none ticked, or `reset`:
    the table's own columns again); back to the list's query."""
    kind = _kind(kind, request.user)
    access = access_for(request.user, kind)
    query = request.POST.get("query", "")[:8192]
    names = [] if request.POST.get("reset") else request.POST.getlist("columns")
    try:
        columns = presentation.parse_columns(kind, access, names)
    except presentation.InvalidPresentation as exc:
        messages.error(request, _problems(exc.errors))
        return _back(kind, query)
    saved_views.columns_remember(user=request.user, kind=kind, columns=columns)
    rest = QueryDict(query, mutable=True)
    rest.pop("columns", None)  # the choice shows at once, not an explicit list
    return _back(kind, rest.urlencode())
