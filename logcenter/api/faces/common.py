"""What every compatibility face does the same way: read one parameter once, a bounded
whole number, a kind's LogQuery with the error renamed to the face's parameter. Each face
raises FaceError and writes it in its own dialect."""

from django.utils.translation import gettext

from logcenter.core.query import InvalidLogQuery, LogQuery


class FaceError(Exception):
    """Bad input (or a refusal) in a face: the face's own parameter name, a message, the
    HTTP status and the dialect's code."""

    def __init__(self, param, message, status=400, code="invalid_parameter"):
        super().__init__(message)
        self.param, self.message, self.status, self.code = param, message, status, code


def one(params, name):
    """The parameter's value, None when absent; a FaceError when given twice."""
    values = params.getlist(name) if hasattr(params, "getlist") else (
        [params[name]] if name in params else [])
    if len(values) > 1:
        raise FaceError(name, gettext("Give this parameter once."))
    return values[0] if values else None


def whole(params, name, default, low, high):
    text = one(params, name)
    text = str(default) if text in (None, "") else text
    if not text.isdigit() or not low <= int(text) <= high:
        raise FaceError(name, gettext("A whole number from {low} to {high}.").format(
            low=low, high=high))
    return int(text)


def refuse_unknown(params, known):
    unknown = sorted(set(params) - set(known))
    if unknown:
        raise FaceError(unknown[0], gettext("Unknown parameter; this API takes: {names}.")
                        .format(names=", ".join(known)))


def log_query(kind, user, params, theirs=None):
    """The kind's LogQuery for `params` (Logcenter's names); a FaceError naming the face's
    parameter (`theirs`: our name -> theirs) when one does not validate."""
    try:
        return LogQuery.parse(kind, user, params)
    except InvalidLogQuery as exc:
        field, reasons = next(iter(exc.api_errors().items()))
        raise FaceError((theirs or {}).get(field, field), " ".join(reasons)) from None


# Rows before a numbered page's last: deeper pages are refused, pointing to the cursor APIs.
MAX_DEPTH = 10_000


def numbered_page(user, sources, page, size, param="page"):
    """(the rows of page `page` of `size`, the exact total) of sources
    [(kind, LogQuery, extra condition, its parameters)] merged newest first. The total:
    usage calls from the rollups (the stats' own count), other kinds counted."""
    from logcenter.analytics import stats
    from logcenter.core.access import access_for
    from logcenter.core.timeline import cursor_after, merged_page

    if page * size > MAX_DEPTH:
        raise FaceError(param, gettext(
            "Pages stop at {rows} rows; go further with the cursor of GET /api/audit/logs "
            "or GET /api/v1/timeline/.").format(rows=MAX_DEPTH))
    queries = [(kind, query.queryset.filter(extra)) for kind, query, extra, _ in sources]
    skipped = (page - 1) * size
    # The rows before the page are skipped by their keys alone, then the page is read
    # from there as the timeline reads a cursor's next page.
    cursor = cursor_after(queries, skipped) if skipped else None
    entries = [] if skipped and cursor is None else merged_page(user, queries, size, cursor)[0]
    total = 0
    for kind, query, extra, given in sources:
        if kind.slug == "usage" and access_for(user, kind).can_view_stats:
            total += stats.totals(stats.parse(user, given))[0]["requests"]
        else:
            total += query.queryset.filter(extra).count()
    return entries, total
