"""PostgreSQL's keyset plans: the planner's estimate of a filter's matches, queries under
a shared time budget, and the sort plan of the partitioned usage table."""

import json
import time

from django.conf import settings
from django.db import OperationalError, connection, transaction

from logcenter.core.pagination import OverBudget
from logcenter.engines.postgres import partitions
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


def within_budget(read, budget_ms):
    """`read(arm)`, its queries sharing `budget_ms` between them: `read` calls `arm()`
    before each one, and PostgreSQL cancels the one that runs past what is left
    (OverBudget then, also when nothing is left to start another). The caller's
    transaction stays usable."""
    from psycopg.errors import QueryCanceled

    deadline = time.monotonic() + budget_ms / 1000

    def arm():
        left_ms = int((deadline - time.monotonic()) * 1000)
        if left_ms <= 0:
            raise OverBudget
        with connection.cursor() as cursor:
            cursor.execute("SELECT set_config('statement_timeout', %s, true)", [f"{left_ms}ms"])

    try:
        with transaction.atomic():
            with connection.cursor() as cursor:
                cursor.execute("SELECT current_setting('statement_timeout')")
                previous = cursor.fetchone()[0]
            result = read(arm)
            with connection.cursor() as cursor:  # SET LOCAL would outlive the savepoint
                cursor.execute("SELECT set_config('statement_timeout', %s, true)", [previous])
            return result
    except OperationalError as error:
        if isinstance(error.__cause__, QueryCanceled):
            raise OverBudget from error
        raise


def sort_plan(kind, filterset, queryset, carried=None):
    """How to read a page sorted by something other than time on the partitioned usage
    table (keyset_page's `cuts` and `sort_matches`), and the planner's estimate of the
    matches it asked for (the page's total reuses it), else None. Time order needs no
    plan: every filter's index holds (occurred_at, id); nor do the other kinds.

    Up to LOGCENTER['SORT_MATCHES_UP_TO'] matches (the planner's estimate), they are ranked
    on a filter index's entries (it carries the sort keys): bounded, whatever the filter.
    More, the sort key's index is walked, a month at a time, each month planned with its
    own statistics, and sorted after all if that walk overruns its budget. A deeper page
    decides by the total its cursor carries (the first page's count, or past the cap the
    estimate), without asking the planner again."""
    if kind.model is not UsageRecord or filterset.ordering_value.lstrip("-") == "occurred_at":
        return {}, None
    known = None if carried is None else (
        carried.approximate if carried.capped else carried.count)
    planned = known if known is not None else planned_rows(queryset)
    if planned <= settings.LOGCENTER["SORT_MATCHES_UP_TO"]:
        return {"sort_matches": True}, planned
    start, _, _ = filterset.time_window
    return {"cuts": partitions.bounds_within(start, filterset.window_end)}, planned
