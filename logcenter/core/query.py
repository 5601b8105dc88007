"""LogQuery: one request's question to one kind, parsed and validated once.

Every face that reads log rows (the list page, the REST API, exports, stats, charts and
panels) turns its query string into a LogQuery, so that they take the same parameters,
refuse the same mistakes with the same reasons, and see the same rows:

    query = LogQuery.parse(kind, request.user, request.GET, also=PANEL_PARAMETERS)
    query.queryset        # the visible, filtered rows (not yet ordered or sliced)
    query.ordering        # "-occurred_at", "cost", …
    query.filters()       # {name: [values]} of the filters alone (no window, no paging)

A query string has four parts: the kind's **filters** (its FilterSet's fields and their
`exclude_` twins), the **window** (`range`, `start_time`, `end_time`), the **paging**
(`ordering`, `cursor`, `page_size`) and the **presentation** (`view`, a saved view whose
parameters are merged under the given ones, and `columns`; logcenter.core.presentation).
`also` names a face's own extra parameters (a chart's `top_by`), which the face reads
itself. Anything else is refused (params.UNKNOWN).
"""

from dataclasses import dataclass

from logcenter.core import presentation
from logcenter.core.access import access_for, log_visible
from logcenter.core.params import UNKNOWN, as_querydict, parameter_errors

WINDOW = frozenset({"range", "start_time", "end_time"})
PAGING = frozenset({"ordering", "cursor", "page_size"})


class InvalidLogQuery(Exception):
    """The query string did not validate; `errors` maps parameter -> reasons, as a form's
    get_json_data() gives them ([{"message", "code"}]). Unknown parameters come under
    params.UNKNOWN, one entry per name."""

    def __init__(self, errors, filterset=None):
        super().__init__("Invalid log query")
        self.errors = errors
        self.filterset = filterset

    def api_errors(self) -> dict:
        """{parameter: [messages]}: the body of the API's HTTP 400 (every face's)."""
        return {field: [e["message"] for e in errors] for field, errors in self.errors.items()}


@dataclass(frozen=True)
class LogQuery:
    kind: object  # the LogKind
    user: object
    params: object  # the QueryDict as given
    filterset: object  # the kind's FilterSet over the user's visible rows, validated
    view: object = None  # the SavedView applied (`view`), if any
    columns: tuple | None = None  # the visible columns asked for (`columns`, or the view's)

    @classmethod
    def parse(cls, kind, user, params, *, also=()):
        """The validated query, or InvalidLogQuery with per-parameter reasons. Every
        parameter must be the kind's or in `also`; a single-valued one may come once.
        A saved view (`view`) is applied first; the parameters given win over its.
        PermissionDenied when the user may not see the kind."""
        try:
            params = as_querydict(params)
        except ValueError as exc:
            raise InvalidLogQuery(
                {"filters": [{"message": str(exc), "code": "invalid"}]}) from None
        visible, access = log_visible(kind, user), access_for(user, kind)
        shown, view, columns = {}, None, None
        try:
            params, view = presentation.resolve(kind, user, params)
        except presentation.InvalidPresentation as exc:
            shown.update(exc.errors)
            params = params.copy()
            params.pop("view", None)
        try:
            columns = presentation.parse_columns(kind, access, params.getlist("columns"))
        except presentation.InvalidPresentation as exc:
            shown.update(exc.errors)
        filterset = kind.filterset(params, queryset=visible, access=access)
        problems = parameter_errors(
            params, kind.filterset.parameter_names() | presentation.DISPLAY | set(also),
            kind.filterset.multi_valued() | {"columns"})
        valid = filterset.is_valid()
        if problems or shown or not valid:
            errors = filterset.errors.get_json_data() if not valid else {}
            for name, reasons in shown.items():
                errors[name] = [{"message": reason, "code": "invalid"} for reason in reasons]
            for name, reasons in problems.items():
                code = "unknown" if name == UNKNOWN else "repeated"
                errors[name] = [{"message": reason, "code": code} for reason in reasons]
            raise InvalidLogQuery(errors, filterset)
        return cls(kind, user, params, filterset, view, columns)

    # --- what the faces read ----------------------------------------------------------

    @property
    def queryset(self):
        """The visible rows these filters and this window select (unordered)."""
        return self.filterset.qs

    @property
    def values(self) -> dict:
        """Every parameter's validated value (the form's cleaned_data)."""
        return self.filterset.form.cleaned_data

    @property
    def time_window(self):
        """(start, end, label) applied: see LogFilterSet.time_window."""
        return self.filterset.time_window

    @property
    def ordering(self) -> str:
        return self.filterset.ordering_value

    @property
    def cursor(self):
        return self.filterset.cursor_value

    @property
    def page_size(self) -> int:
        return self.filterset.page_size_value

    def filters(self) -> dict:
        """{name: [values]} of the filters as given, without window and paging."""
        names = self.kind.filterset.parameter_names() - WINDOW - PAGING
        return {k: v for k, v in self.params.lists() if k in names}

    def used_filters(self) -> set:
        """Names of the filters (not window or paging) that hold a value."""
        return {k for k, v in self.values.items()
                if k not in WINDOW | PAGING and v not in (None, "", [])}

    def all_pages(self) -> dict:
        """{name: [values]} of the parameters as given but the cursor and page size: the
        same rows in the same order, every page (what an export keeps); a saved view's
        parameters are in it, `view` itself is not (the view may change later)."""
        return {k: v for k, v in self.params.lists()
                if k not in PAGING - {"ordering"} and v != [""]}

    def rewindowed(self, **window):
        """The same filters over another window (`range`, `start_time` or `end_time`,
        as text), with the default paging."""
        return LogQuery.parse(self.kind, self.user, {**self.filters(), **window})
