"""PostgreSQL's keyset plans: the planner's estimate of a filter's matches, and the page
plan of the partitioned usage table sorted by cost, tokens or latency."""

import json

from django.conf import settings
from django.db import connection
from django.db.models import F
from django.db.models.fields.tuple_lookups import Tuple, TupleGreaterThan, TupleLessThan

from logcenter.core.pagination import (NEXT, Cursor, keyset_page, keyset_queryset, page_of,
                                       reads_descending, sorted_matches)
from logcenter.models import UsageRecord


def planned_rows(queryset) -> int:
    """The planner's estimate of the matches: one EXPLAIN, no rows read."""
    sql, params = queryset.order_by().query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN (FORMAT JSON) " + sql, params)
        plan = cursor.fetchone()[0]
    if isinstance(plan, str):
        plan = json.loads(plan)
    return int(plan[0]["Plan"]["Plan Rows"])


# The walk down a sort key's index reads this many entries first, then four times as many
# at each step: bounded reads, whatever the filters, decided by counts and never by a clock.
PROBE_ENTRIES = 2_000
PROBE_GROWTH = 4
# Walking one entry of the sort's index and checking its row against the filters costs
# about this many times what ranking one match on a filter's index entries costs (measured
# on the 10M-row table, docs/performance.md): walk on while the entries already read, times
# this, are fewer than the matches the planner expects; then rank what is left.
WALK_COST_RATIO = 8


def page(kind, filterset, queryset, carried=None):
    """(KeysetPage, the planner's estimate of the matches or None) for a page of the
    partitioned usage table sorted by something other than time. Time order needs no plan:
    every filter's index holds (occurred_at, id); nor do the other kinds.

    Up to LOGCENTER['SORT_MATCHES_UP_TO'] matches (the planner's estimate; a deeper page
    uses the total its cursor carries), they are ranked on a filter index's entries (it
    carries the sort keys): bounded, whatever the filter. More matches: the sort key's
    index is walked in probes of PROBE_ENTRIES, PROBE_GROWTH times more at each step, each
    probe a bounded range of the index (its last entry found first, index-only); a probe
    returns the matches inside its range. Matches spread through the sort order fill a page
    within the first probe; a filter that shuns the top of the sort (a key whose calls are
    never the cheapest) is ranked instead once the entries walked outweigh the matches."""
    ordering, cursor = filterset.ordering_value, filterset.cursor_value
    size = filterset.page_size_value
    if kind.model is not UsageRecord or ordering.lstrip("-") == "occurred_at":
        return keyset_page(queryset, ordering, cursor, size), None
    known = None if carried is None else (
        carried.approximate if carried.capped else carried.count)
    planned = known if known is not None else planned_rows(queryset)
    if planned <= settings.LOGCENTER["SORT_MATCHES_UP_TO"]:
        return keyset_page(queryset, ordering, cursor, size, sort_matches=True), planned
    start, _, _ = filterset.time_window
    window = UsageRecord.objects.filter(occurred_at__lt=filterset.window_end)
    if start is not None:
        window = window.filter(occurred_at__gte=start)
    return _walked_page(window, queryset, ordering, cursor, size, planned), planned


def _walked_page(window, queryset, ordering, cursor, size, planned):
    key = ordering.lstrip("-")
    descending = reads_descending(ordering, cursor)
    reached = cursor  # the walk's position: every entry up to it has been read
    rows, walked, entries = [], 0, PROBE_ENTRIES
    while True:
        # The probe's last entry: the entries-th of the window after the position.
        last = (keyset_queryset(window, ordering, reached).values_list(key, "id")
                [entries - 1:entries].first())
        probe = keyset_queryset(queryset, ordering, reached)
        if last is not None:  # up to and with that entry
            beyond = TupleLessThan if descending else TupleGreaterThan
            probe = probe.exclude(beyond(Tuple(F(key), F("id")), last))
        rows += probe[:size + 1 - len(rows)]
        if len(rows) > size or last is None:  # a full page, or the window's end
            return page_of(rows, ordering, cursor, size)
        walked += entries
        reached = Cursor(ordering, last[0], last[1],
                         cursor.direction if cursor is not None else NEXT)
        if walked * WALK_COST_RATIO >= planned:
            # The matches lie away from this end of the sort: rank the rest of them.
            ranked = keyset_queryset(queryset, ordering, reached, sort_matches=True)
            more, count = sorted_matches(ranked, size + 1 - len(rows))
            return page_of(rows + more, ordering, cursor, size, ranked=len(rows) + count)
        entries *= PROBE_GROWTH
