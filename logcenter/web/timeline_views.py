"""The Timeline page: every row of every kind the user sees about one request, user, API
key, IP address or organization, newest first (logcenter.core.timeline)."""

from django.contrib.auth.decorators import login_required
from django.shortcuts import render

from logcenter.core.query import InvalidLogQuery
from logcenter.core.text import escape_row
from logcenter.core.timeline import PIVOTS, timeline
from logcenter.web.views import text_fields


@login_required
def timeline_page(request):
    params = _pivot_params(request.GET)
    page, errors = None, {}
    if "about" in params or any(params.get(name) for name in PIVOTS):
        try:
            page = timeline(request.user, params)
        except InvalidLogQuery as exc:
            errors = exc.api_errors()
    if page is not None:
        for entry in page.entries:
            escape_row(entry.row, text_fields(entry.kind))
    pivot = next((name for name in PIVOTS if params.get(name)), "request_id")
    return render(request, "logcenter/timeline.html", {
        "page": page, "errors": errors, "pivots": PIVOTS.values(), "pivot": pivot,
        "value": params.get(pivot, ""), "range": params.get("range", ""),
        "next_query": _next_query(params, page),
    }, status=400 if errors else 200)


def _pivot_params(params):
    """The page's form sends `about` (a pivot's name) and `value`: the timeline's
    parameters are `<about>=<value>` (links from other pages use those directly)."""
    if "about" not in params and "value" not in params:
        return params
    params = params.copy()
    about, value = params.pop("about", [""])[-1], params.pop("value", [""])[-1]
    if about in PIVOTS:
        if value:
            params[about] = value
    else:
        params["about"] = about  # not a pivot: the timeline refuses it, naming it
    return params


def _next_query(params, page):
    if page is None or not page.next_cursor:
        return ""
    query = params.copy()
    query["cursor"] = page.next_cursor
    return query.urlencode()
