"""How a list is shown: saved views (`view`) and visible columns (`columns`).

The fourth part of a list's query string (beside filters, window and paging, see
logcenter.core.query), resolved here once for every face that reads it (page, API,
export, stats, panels):

- `view=<id>` applies a saved view (logcenter.models.SavedView): its filters, window,
  sort, columns and page size, merged under the parameters given explicitly (a parameter
  given replaces the view's, whatever its value). A view the user may not see, or of
  another kind, is refused under `view` as an unknown one is; `view=` (empty) applies none.
- `columns=a,b,c` (or repeated) names the visible columns, in order: field names of the
  kind, `all` for every one the user may see. A field the user's role does not see is
  refused by name.
"""

from django.db.models import Q
from django.utils.translation import gettext

from logcenter.core.access import membership_of
from logcenter.core.params import as_querydict

DISPLAY = frozenset({"view", "columns"})
ALL_COLUMNS = "all"
# Columns every table keeps first: the time, which links to the row's detail.
FIXED_COLUMNS = ("occurred_at",)


class InvalidPresentation(ValueError):
    """`errors`: {parameter: [reasons]}."""

    def __init__(self, errors):
        super().__init__(errors)
        self.errors = errors


# --- saved views --------------------------------------------------------------------------

def views_visible(user, kind=None):
    """The saved views `user` may apply: their own and those shared with one of their
    roles (of one kind when given), by name. A shared view reaches the role's holders on
    its owner's side only (the same organization; platform staff among themselves): its
    filters may name the organization's people and keys."""
    from logcenter.models import SavedView

    if not (user and user.is_authenticated):
        return SavedView.objects.none()
    membership = membership_of(user)
    same_side = (Q(owner__membership__organization_id=membership.organization_id)
                 if membership is not None else Q(owner__membership__isnull=True))
    views = SavedView.objects.filter(
        Q(owner=user) | (Q(shared_with_role__in=user.groups.all()) & same_side))
    if kind is not None:
        views = views.filter(kind=kind.slug)
    return views.select_related("owner", "shared_with_role").order_by("name", "id")


def default_view(kind, user):
    """The user's own default view of the kind, or None."""
    from logcenter.models import SavedView

    if not (user and user.is_authenticated):
        return None
    return SavedView.objects.filter(owner=user, kind=kind.slug, is_default=True).first()


def view_for(kind, user, raw):
    """The saved view `raw` (its id as text) names, or InvalidPresentation under `view`."""
    text = str(raw).strip()
    if not text.isdigit() or len(text) > 18:
        raise InvalidPresentation({"view": [gettext("Enter a saved view's id.")]})
    view = views_visible(user, kind).filter(pk=int(text)).first()
    if view is None:
        raise InvalidPresentation({"view": [gettext(
            "No saved view {id} of this tab that you may use.").format(id=text)]})
    return view


def resolve(kind, user, params):
    """(params, view): the query with `view` applied and removed (explicit parameters
    win), and the SavedView applied or None. InvalidPresentation for a bad `view`."""
    params = as_querydict(params)
    if "view" not in params:
        return params, None
    values = params.getlist("view")
    if len(values) > 1:
        raise InvalidPresentation({"view": [gettext(
            "Given more than once; this parameter takes one value.")]})
    merged = params.copy()
    del merged["view"]
    if not values[0].strip():
        return merged, None
    view = view_for(kind, user, values[0])
    for name, stored in view.as_params().items():
        if name not in merged:
            merged.setlist(name, stored)
    return merged, view


# --- columns ------------------------------------------------------------------------------

def available_columns(kind, access) -> list:
    """Every column the user may show, as (name, label): the table's own first, then
    the kind's other fields; never one the role does not see."""
    names = list(kind.table.base_columns)
    for field in kind.model._meta.concrete_fields:
        if field.name != "id" and field.name not in names:
            names.append(field.name)
    labels = {f.name: f.verbose_name for f in kind.model._meta.concrete_fields}
    return [(name, kind.table.base_columns[name].verbose_name
             if name in kind.table.base_columns and kind.table.base_columns[name].verbose_name
             else labels.get(name, name))
            for name in names if name not in access.hidden_fields]


def parse_columns(kind, access, values):
    """`columns` values (repeats, comma lists, or `all`) as a tuple of names in order,
    the fixed ones first; None when not given. InvalidPresentation for an unknown name or
    one the role does not see."""
    names = []
    for value in values:
        names += [part.strip() for part in str(value).split(",") if part.strip()]
    if not names:
        return None
    available = [name for name, _ in available_columns(kind, access)]
    if names == [ALL_COLUMNS]:
        return tuple(available)
    unknown = [n for n in names if n not in available]
    if unknown:
        hidden = [n for n in unknown if n in access.hidden_fields]
        reason = (gettext("Your role may not see {names}.") if hidden
                  else gettext("Unknown column {names}; the columns are: {known}, or all."))
        raise InvalidPresentation({"columns": [reason.format(
            names=", ".join(n[:64] for n in unknown[:10]), known=", ".join(available))]})
    ordered = [n for n in FIXED_COLUMNS if n in available]
    return tuple(ordered + [n for n in dict.fromkeys(names) if n not in ordered])


def remembered_columns(kind, user):
    """The columns the user chose for the kind's table (the column chooser), or None."""
    from logcenter.models import ColumnPreference

    if not (user and user.is_authenticated):
        return None
    choice = ColumnPreference.objects.filter(user=user, kind=kind.slug).first()
    return tuple(choice.columns) if choice and choice.columns else None
