"""Reads of the log kinds: the one place that decides which rows a request gets.

The list page, the REST API and the export call these, so visibility, filters, sort
and paging are decided once: a LogQuery (logcenter.core.query) holds the validated
parameters, `log_page` reads its page through the kind's engine. Selectors only read.
"""

import json
from dataclasses import dataclass
from functools import cached_property

from django.conf import settings
from django.utils.crypto import constant_time_compare, salted_hmac

from logcenter.core.access import access_for, log_visible, visible_kinds  # noqa: F401
from logcenter.core.pagination import KeysetPage, Total
from logcenter.core.query import InvalidLogQuery, LogQuery  # noqa: F401 (the faces' import)
from logcenter.core.registry import LogKind, registry
from logcenter.engines import engine_for


@dataclass
class LogListing:
    kind: LogKind
    filterset: object
    queryset: object  # filtered, not yet ordered or sliced
    page: KeysetPage
    viewer: object = None  # whose visible rows were counted: a total is carried for them only
    planned: int | None = None  # the planner's estimate of the matches, if already asked
    carried: Total | None = None  # the total the cursor carries, its seal checked

    @cached_property
    def total(self) -> Total:
        """The matches counted up to LOGCENTER['COUNT_CAP'] (never a full COUNT(*)), and
        past the cap the planner's estimate (no rows read), shown labelled as an estimate
        and never below the cap. Counted on the first page (where it holds every match,
        they are its rows); a cursor brings it along."""
        total = self.carried
        cap = settings.LOGCENTER["COUNT_CAP"]
        if (total is None and self.filterset.cursor_value is None and not self.page.has_next
                and len(self.page.rows) <= cap):
            # The first page holds every match: its rows are the count. (Counting again
            # read every candidate of filters that match nothing together: 0.3 s.)
            total = Total(len(self.page.rows), False, None)
        if total is None:
            engine = engine_for(self.kind)
            count, capped = engine.count_listed(self.kind, self.filterset,
                                                 self.queryset, cap)
            planned = None
            if capped:
                planned = self.planned if self.planned is not None else engine.estimate(
                    self.queryset)
            total = Total(count, capped, None if planned is None else max(planned, cap + 1))
        self.page.carry(total, _total_seal(self.filterset, self.viewer, total))
        return total


def _carried_total(filterset, viewer) -> Total | None:
    """The total the cursor carries, if its seal shows it was counted here, for these
    filters and this viewer; else None (count afresh)."""
    cursor = filterset.cursor_value
    if cursor is None or cursor.total is None or not isinstance(cursor.seal, str):
        return None
    if not constant_time_compare(cursor.seal, _total_seal(filterset, viewer, cursor.total)):
        return None
    return cursor.total


def _total_seal(filterset, viewer, total: Total) -> str:
    """A keyed digest of the validated filters (not the paging), the viewer and the total.
    A carried total must have been counted for the same filters and viewer (a member
    opening an administrator's link counts their own rows), and by us: a deeper sorted
    page plans by it, so a forged small total would buy an unbounded sort."""
    data = {k: v for k, v in filterset.form.cleaned_data.items()
            if k not in ("cursor", "page_size") and v not in (None, "")}
    data["lc_viewer"] = viewer
    data["lc_total"] = total.as_list()
    text = json.dumps(data, sort_keys=True, default=str)
    return salted_hmac("logcenter.cursor-total", text, algorithm="sha256").hexdigest()[:32]


def log_list(kind: LogKind, user, params, *, also=()) -> LogListing:
    """One page of the kind's rows for `params` (InvalidLogQuery when they do not
    validate): log_page(LogQuery.parse(...))."""
    return log_page(LogQuery.parse(kind, user, params, also=also))


def log_page(query: LogQuery) -> LogListing:
    """The page the query's ordering, cursor and page size select, masked for the user.
    How to read it is the engine's (a speed plan for one big table lives there)."""
    kind, user, filterset = query.kind, query.user, query.filterset
    queryset = query.queryset
    carried = _carried_total(filterset, user.pk)
    page, planned = engine_for(kind).page(kind, filterset, queryset, carried)
    access_for(user, kind).apply(page.rows)
    return LogListing(kind, filterset, queryset, page, viewer=user.pk, planned=planned,
                      carried=carried)


def log_get(kind: LogKind, user, event_id):
    """One row by event_id, masked for the user's role, or kind.model.DoesNotExist if
    absent or not the user's to see (the two are indistinguishable on purpose). Only
    reads: a face showing the row records the view (services.log_detail_viewed)."""
    # first(), not get(): a kind's table may hold event_id unique per occurred_at only
    # (a partitioned one).
    row = log_visible(kind, user).filter(event_id=event_id).order_by("occurred_at").first()
    if row is None:
        raise kind.model.DoesNotExist(event_id)
    access_for(user, kind).apply([row])
    return row


def log_related(row, user, limit=20):
    """Rows of every kind sharing `row`'s request_id (itself excluded): [(kind, rows)]."""
    if not row.request_id:
        return []
    related = []
    for kind in visible_kinds(user):
        queryset = log_visible(kind, user).filter(request_id=row.request_id)
        if isinstance(row, kind.model):
            queryset = queryset.exclude(pk=row.pk)
        rows = access_for(user, kind).apply(list(queryset.order_by("occurred_at", "id")[:limit]))
        if rows:
            related.append((kind, rows))
    return related


def purgeable_rows(model, organization_id=None):
    """The rows of `model` (a log kind's) that a purge may take, whatever their age: one
    organization's (its plan's purge), or every row but those of organizations on legal
    hold (the platform's purge, a deletion job). The database's purge functions apply the
    same rule themselves (migration 0028)."""
    from accounts.models import Organization

    if organization_id is not None:
        return model.objects.filter(organization_id=organization_id)
    held = list(Organization.objects.filter(legal_hold=True).values_list("public_id", flat=True))
    return model.objects.exclude(organization_id__in=held) if held else model.objects.all()


def usage_of_key(key, limit):
    """The newest `limit` usage rows of an API key (accounts.ApiKey), for the key's own
    holder: a customer's key sees its organization's rows within its plan's window."""
    from logcenter.core.access import organization_scope

    kind = registry["usage"]
    rows = kind.model.objects.filter(api_key_id=key.prefix)
    if key.project_id is not None:
        rows = organization_scope(rows, key.project.organization, kind)
    return list(rows.order_by("-occurred_at", "-id")[:limit])
