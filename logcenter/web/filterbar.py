"""The list page's filter bar and the links around it, derived from the kind's registration.

- `split_fields`: the fields always in view (the kind's `bar_filters`, then the search) and
  the rest under "More filters", which opens by itself when one of its fields holds a value.
- `organization_switcher`: for platform staff, the organization as a choice of names at
  the head of the bar (applied as soon as it is picked), its chip naming it.
- `chips`: every parameter applied (filters, the time window, the sort) as a removable chip
  whose × is the same address without that value.
- `filter_link`: a row's or a detail page's value as a link to the list with that filter
  added to the current ones (the value replaces an earlier one of the same filter).
- `exact_window`: the address with a relative window (the last 24 h) made absolute, to
  share a view that still shows the same rows tomorrow.
"""

from urllib.parse import urlencode

from django.http import QueryDict
from django.utils import timezone
from django.utils.translation import gettext as _

from logcenter.core.filters import NEGATION_PREFIX, AnyOfFilter, ManyValuesSelect
from logcenter.core.query import PAGING, WINDOW

# Parameters that are no filter and get no chip: paging within the same question, and the
# panels' own.
NOT_CHIPS = frozenset({"cursor", "page_size", "top_by"})
SEARCH = "q"


ORGANIZATION_FILTER = "organization_id"


def organization_switcher(form, access, organizations):
    """Platform staff choose an organization by its name: `form`'s organization filter
    becomes a select of `organizations()` ([(public_id, name)]) whose value is the public id
    (the address and the API read the same), applied as soon as it is picked, and its chip
    names the organization. Returns the filters to lead the bar with: that one, or none
    for anyone else (an organization's users see their own organization only) or when
    there is no organization yet."""
    field = form.fields.get(ORGANIZATION_FILTER)
    organizations = organizations() if field is not None and access.can_view_all else ()
    if not organizations:
        return ()
    field.choices = organizations  # what chips show for a value (_value_label)
    field.label = _("Organization")
    field.widget = ManyValuesSelect(
        choices=[("", _("Every organization")), *organizations],
        attrs={"onchange": "this.form.requestSubmit()", "class": "organization-switcher"})
    return (ORGANIZATION_FILTER,)


def split_fields(kind, form, params, leading=()):
    """(primary fields, more fields, more_open): bound fields of the filter form; the
    `leading` filters first in the bar (the organization switcher)."""
    usable = [name for name in (*leading, *kind.page_filters)
              if name not in form.restricted_filters and name in form.fields]
    primary_names = [name for name in (*leading, *kind.bar_filters) if name in usable]
    if SEARCH in form.fields:
        primary_names.append(SEARCH)
    more_names = [name for name in usable if name not in primary_names]
    # Filters given in the address that the bar does not list (a chart's link, an API
    # query pasted): shown under More filters so that they can be seen and changed.
    more_names += [name for name in form.fields
                   if name not in usable and name not in primary_names
                   and name not in WINDOW | PAGING and params.get(name)
                   and name not in form.restricted_filters]
    more_open = any(params.get(name) for name in more_names)
    return ([form[name] for name in primary_names], [form[name] for name in more_names],
            more_open)


def without(params, name, value=None):
    """The query string without `name` (or only without that one of its values), and
    without the cursor, which belongs to the old question."""
    query = params.copy()
    query.pop("cursor", None)
    if value is None:
        query.pop(name, None)
    else:
        kept = [v for v in query.getlist(name) if v != value]
        if kept:
            query.setlist(name, kept)
        else:
            query.pop(name, None)
    return query.urlencode()


def _value_label(field, value):
    choices = getattr(field, "choices", None) or getattr(
        getattr(field, "inner", None), "choices", None)
    if choices:
        labels = {str(key): label for key, label in choices}
        parts = [part.strip() for part in value.split(",")]
        if all(part in labels for part in parts):
            return ", ".join(str(labels[part]) for part in parts)
    return value


def _sort_label(kind, ordering):
    key = ordering.lstrip("-")
    try:
        name = kind.model._meta.get_field(key).verbose_name
    except Exception:  # noqa: BLE001 - an unknown key is refused before; show it as given
        name = key
    arrow = _("{field}, highest first") if ordering.startswith("-") else _(
        "{field}, lowest first")
    if key == "occurred_at":
        arrow = _("newest first") if ordering.startswith("-") else _("oldest first")
    return arrow.format(field=name)


def chips(kind, filterset, params):
    """[{"label", "value", "remove"}] for each value applied; "remove" is the query string
    without it (None for the default window, which cannot be removed, only changed)."""
    form = filterset.form
    base = filterset.__class__.base_filters
    result = []
    window_given = any(params.get(name) for name in WINDOW)
    if not window_given:
        label = filterset.time_window[2] if form.is_bound and form.is_valid() else ""
        result.append({"label": _("Time"), "value": label, "remove": None, "name": "range"})
    for name, values in params.lists():
        if name in NOT_CHIPS:
            continue
        for value in values:
            if value == "":
                continue
            if name == "range":
                field = form.fields.get("range")
                text = _value_label(field, value) if field else value
                result.append({"label": _("Time"), "value": text, "name": name,
                               "remove": without(params, name, value)})
                continue
            if name == "ordering":
                result.append({"label": _("Sort"), "value": _sort_label(kind, value),
                               "name": name, "remove": without(params, name, value)})
                continue
            field = form.fields.get(name)
            if field is None:
                continue
            label = field.label
            negated = name.startswith(NEGATION_PREFIX) and name in base
            if negated and not label:
                label = name
            result.append({"label": label or name, "value": _value_label(field, value),
                           "name": name, "remove": without(params, name, value),
                           "negated": negated})
    return result


def filterable_fields(kind, access):
    """Field names whose value is a filter of the same name (an exact "any of" filter),
    that this viewer may filter by: a row's value links to the list filtered by it."""
    base = kind.filterset.base_filters
    return frozenset(
        name for name, filter_ in base.items()
        if isinstance(filter_, AnyOfFilter) and not filter_.exclude
        and not name.startswith(NEGATION_PREFIX)
        and name not in access.restricted_fields
        and _is_model_field(kind.model, name))


def _is_model_field(model, name):
    return any(f.name == name for f in model._meta.concrete_fields)


def quote_value(value) -> str:
    """A value as a filter takes it: quoted when it holds a comma or a quote."""
    text = str(value)
    if "," in text or '"' in text:
        return '"' + text.replace('"', '""') + '"'
    return text


class FilterLinks:
    """Builds "this list, also filtered by name=value" links for one page's query."""

    def __init__(self, path, params):
        self.path = path
        query = params.copy() if params is not None else QueryDict(mutable=True)
        query.pop("cursor", None)
        self.query = query
        self._bases = {}
        self._urls = {}  # a page's cells repeat their values (models, statuses, keys)

    def url(self, name, value) -> str:
        try:
            found = self._urls.get((name, value))
        except TypeError:  # a value that cannot be a key: built each time
            return self._url(name, value)
        if found is None:
            found = self._urls[name, value] = self._url(name, value)
        return found

    def _url(self, name, value) -> str:
        base = self._bases.get(name)
        if base is None:
            query = self.query.copy()
            query.pop(name, None)
            base = self._bases[name] = query.urlencode()
        # urlencode of one pair, as QueryDict.urlencode writes it (a QueryDict per cell cost
        # a list page of 50 rows 3 ms).
        extra = urlencode([(name, quote_value(value))])
        return f"{self.path}?{base + '&' if base else ''}{extra}"


def exact_window(filterset, params):
    """The query string with the window as absolute start and end times in the user's
    timezone (to the second), or None when the window is already absolute or unbounded."""
    form = filterset.form
    if not (form.is_bound and form.is_valid()):
        return None
    data = form.cleaned_data
    if data.get("start_time") or data.get("end_time"):
        return None
    start, _end, _label = filterset.time_window
    if start is None:
        return None
    end = timezone.now()
    query = params.copy()
    for name in ("range", "cursor", "start_time", "end_time"):
        query.pop(name, None)
    query["start_time"] = timezone.localtime(start).strftime("%Y-%m-%d %H:%M:%S")
    query["end_time"] = timezone.localtime(end).strftime("%Y-%m-%d %H:%M:%S")
    return query.urlencode()
