"""PostgreSQL's keyset plans: the planner's estimate of a filter's matches, and the page
plan of the partitioned usage table sorted by cost, tokens or latency."""

import json
import math
from contextlib import contextmanager
from datetime import timedelta

from django.db import connection, transaction
from django.db.models import F
from django.db.models.fields.tuple_lookups import (Tuple, TupleGreaterThanOrEqual,
                                                   TupleLessThanOrEqual)

from logcenter.core.filters import NEGATION_PREFIX, indexed_fields
from logcenter.core.pagination import (NEXT, Cursor, keyset_page, keyset_queryset, page_of,
                                       reads_descending, sorted_matches)
from logcenter.core.query import PAGING, WINDOW
from logcenter.models import UsageRecord


def _plan(queryset) -> dict:
    """The planner's plan of a query (its top node): one EXPLAIN, no rows read."""
    sql, params = queryset.query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN (FORMAT JSON) " + sql, params)
        plan = cursor.fetchone()[0]
    if isinstance(plan, str):
        plan = json.loads(plan)
    return plan[0]["Plan"]


def planned_rows(queryset) -> int:
    """The planner's estimate of the matches."""
    return int(_plan(queryset.order_by())["Plan Rows"])


def planned_cost(queryset, every_process=False, plan=None) -> float:
    """The planner's total cost of a query, in its own units. A parallel plan's cost is
    each process's share; `every_process`: the work of them all (get_parallel_divisor in
    PostgreSQL's costsize.c). `plan`: the query's plan, where already asked for."""
    if plan is None:
        plan = _plan(queryset)
    cost = float(plan["Total Cost"])
    workers = _planned_workers(plan)
    if every_process and workers:
        cost *= _parallel_divisor(workers)
    return cost


def _parallel_divisor(workers) -> float:
    """How many processes' work PostgreSQL counts a parallel plan's share for (the workers,
    and the leader's part, 0.3 less per worker)."""
    return workers + max(0.0, 1.0 - 0.3 * workers)


def _matches(plan) -> int:
    """The rows a LIMITed plan expects under its limit: the query's matches, as
    planned_rows() estimates them (a gathering node holds its workers' rows, each a
    process's share: counted for every process)."""
    if plan["Node Type"] == "Limit" and plan.get("Plans"):
        plan = plan["Plans"][0]
    rows = float(plan["Plan Rows"])
    workers = plan.get("Workers Planned", 0)
    if plan["Node Type"] in ("Gather", "Gather Merge") and workers:
        rows = rows / workers * _parallel_divisor(workers)
    return round(rows)


def _planned_workers(plan) -> int:
    return max(node.get("Workers Planned", 0) for node in _nodes(plan))


def _nodes(node):
    """A plan's nodes, the top one first."""
    yield node
    for child in node.get("Plans", []):
        yield from _nodes(child)


def count_listed(filterset, queryset, cap):
    """(a list's matches counted up to `cap`, whether there are more): the first cap + 1
    matches in page order. Every filter's index holds (occurred_at, id), so PostgreSQL
    reads one filter's entries and stops at the cap, where unordered it chose a bitmap of
    every candidate first (a key, a binding code and a protocol over 30 days: 53 → 8 ms).
    Unordered, though, with a search (its text index hands over a bitmap: in page order
    "context length" over 30 days took 140 → 187 ms), and where the plan in page order
    walks the time index: PostgreSQL takes filters for independent and spread evenly in
    time, and checked every newer row (a key, a channel and streamed, whose newest matches
    lay behind 372,000 newer calls of others: 205 ms); a bitmap is bounded by the
    candidates. Where that plan walks the time index, or reads each entry's row to check
    the other filters, filters of one value each are counted on their own indexes' entries
    merged in page order instead (_intersected_count)."""
    counted = queryset.order_by()[:cap + 1]
    applied = _applied_filters(filterset)
    # Without a filter, page order is the time index's: unordered, with no EXPLAIN to ask.
    if applied and not filterset.form.cleaned_data.get("q"):
        in_order = queryset.order_by("-occurred_at", "-id")[:cap + 1]
        plan = _plan(in_order)
        walks_time = _walks_time_index(plan)
        if walks_time or _reads_rows_to_check(plan):
            found = _intersected_count(filterset, applied, cap,
                                       spread=None if walks_time else MERGE_SPREAD)
            if found is not None:
                return min(found, cap), found > cap
        if not walks_time:
            counted = in_order
    found = counted.count()
    return min(found, cap), found > cap


# A plan in page order that reads one filter's index and each entry's row to check the
# others gives way to the merge where the sides' estimated entries are within this factor
# of each other: a row read costs several index entries, so the merge reads less unless the
# other sides hold many more entries than that filter (a rare binding code within a busy
# key: its rows read, 1,001 of them, cost less than the key's entries over the same time).
MERGE_SPREAD = 4


def _reads_rows_to_check(plan) -> bool:
    """Whether a plan reads rows from the table (not index-only) to check filters."""
    return any(node["Node Type"] in ("Index Scan", "Bitmap Heap Scan") and "Filter" in node
               for node in _nodes(plan))


def _intersected_count(filterset, applied, cap, spread=None):
    """The first cap + 1 matches in page order counted on index entries alone, or None:
    filters that keep few of each other's matches, whose rows PostgreSQL would otherwise
    read (a bitmap of every candidate, or one filter's index and each entry's row, checked
    against the others). Each side is one filter of one value, read from its own index in
    page order (occurred_at, id) with the other filters that index carries checked on its
    entries; the sides are merged on (occurred_at, id) and the merge stops at the cap. An
    API key, a channel and streamed over 30 days (7,583 matches among the key's 676,000
    calls and the channel's 452,000): 174 → 30 ms. None where the sides cannot check
    every filter, for a viewer whose scope (their organization, their own rows) no side's
    index holds, with one side only (the plan in page order reads that index already), or
    where `spread` is given and the sides' estimated entries differ by more than it. Usage
    only: its indexes are the ones described, and no rule of another kind's list (the audit
    tab leaves out record views) is a filter's."""
    if filterset.queryset.model is not UsageRecord or filterset.queryset.query.where:
        return None
    data = filterset.form.cleaned_data
    window = filterset.within_window(filterset.queryset)
    candidates = []
    for name in applied:
        values = data[name]
        if name.startswith(NEGATION_PREFIX) or not isinstance(values, (list, tuple)) \
                or len(values) != 1:
            continue
        columns = _columns(filterset.filters[name], window, values)
        if len(columns) != 1 or columns[0] not in IN_PAGE_ORDER:
            continue
        side, checked = _with_carried(filterset, applied, name, columns[0],
                                      filterset.filters[name].filter(window, values))
        candidates.append((checked, side))
    if len(candidates) < 2:
        return None
    # The fewest entries first: the merge reads each side as far back as the cap's match.
    chosen, covered = [], set()
    planned = [(planned_rows(side), checks, side) for checks, side in candidates]
    for rows, checks, side in sorted(planned, key=lambda candidate: candidate[0]):
        if not checks <= covered:
            chosen.append((rows, side))
            covered |= checks
    if covered != set(applied) or len(chosen) < 2:
        return None
    if spread is not None and chosen[-1][0] > spread * max(chosen[0][0], 1):
        return None
    parts, params = [], []
    for number, (_, side) in enumerate(chosen):
        sql, side_params = side.order_by().values_list("occurred_at", "id").query \
            .sql_with_params()
        on = ("" if number == 0 else
              f" ON s{number}.occurred_at = s0.occurred_at AND s{number}.id = s0.id")
        parts.append(f"({sql}) s{number}{on}")
        params += side_params
    with _merged_in_order() as cursor:
        cursor.execute(f"SELECT COUNT(*) FROM (SELECT s0.id FROM {' JOIN '.join(parts)} "
                       f"ORDER BY s0.occurred_at DESC, s0.id DESC LIMIT {int(cap) + 1}) counted",
                       params)
        return cursor.fetchone()[0]


# The plan the merge needs: each side read from its index in page order, merged on
# (occurred_at, id), in one process. PostgreSQL would rather hash or bitmap every candidate:
# it takes filters for independent, so it expects the cap's matches among the first few.
MERGE_SETTINGS = {"enable_hashjoin": "off", "enable_nestloop": "off", "enable_sort": "off",
                  "enable_bitmapscan": "off", "max_parallel_workers_per_gather": "0"}


@contextmanager
def _merged_in_order():
    """A cursor under MERGE_SETTINGS, for the statements within; then the settings before."""
    def set_local(cursor, settings):
        cursor.execute("SELECT " + ", ".join(["set_config(%s, %s, true)"] * len(settings)),
                       [part for item in settings.items() for part in item])

    outer = connection.in_atomic_block
    with transaction.atomic(), connection.cursor() as cursor:
        if outer:  # SET LOCAL lasts until the caller's transaction ends: put them back
            cursor.execute("SELECT " + ", ".join(["current_setting(%s)"] * len(MERGE_SETTINGS)),
                           list(MERGE_SETTINGS))
            before = dict(zip(MERGE_SETTINGS, cursor.fetchone()))
        set_local(cursor, MERGE_SETTINGS)
        yield cursor
        if outer:
            set_local(cursor, before)


def _walks_time_index(plan) -> bool:
    """Whether a plan reads an index by the time alone (every filter's index leads with its
    own column: a condition on occurred_at first is the time index's)."""
    return any(node.get("Index Cond", "").lstrip("(").startswith("occurred_at")
               for node in _nodes(plan))


# The walk down a sort key's index reads this many entries first, then four times as many
# at each step: bounded reads, whatever the filters, decided by counts and never by a clock.
PROBE_ENTRIES = 2_000
PROBE_GROWTH = 4
# What walking one entry of the sort's index and checking its row against the filters costs,
# in the planner's cost units (measured on the 10M-row table, 2026-12-05: a probe of 2,000
# entries took about 8 ms, a ranking the planner costed at 405,000 about 760 ms).
WALK_ENTRY_COST = 2.0
# The walk may spend this share of what ranking costs before it ranks instead: a filter
# whose matches shun the top of the sort then costs at most 1.5 times its ranking.
WALK_SHARE = 0.5
# An entry of one filter's own index in the sort's order (`_paired_window`) costs this many
# times a sort index entry: each is that filter's, its row read to check the others (a
# model, a group and a binding code by cost over 90 days, 2026-12-05: 42,000 entries in
# 0.24 s, 5.7 µs each, where the sort index's cost about 4).
PAIRED_ENTRY_FACTOR = 1.5


def page(kind, filterset, queryset, carried=None):
    """(KeysetPage, the planner's estimate of the matches or None) for a page of the
    partitioned usage table. Time order needs no plan: every filter's index holds
    (occurred_at, id); a filtered page reads its keys first (below). Nor do the other
    kinds.

    Two ways to read such a page, chosen by what the planner says they cost, never by a
    clock: rank the matches (on a filter index's entries when one filter carries the sort
    keys: index-only; combined filters may need every match's row), or walk the sort key's
    index in probes of PROBE_ENTRIES, PROBE_GROWTH times more at each step, each probe a
    bounded range of the index (its last entry found first, index-only) returning the
    matches inside it. Matches spread through the sort order fill a page within the first
    probe. The walk goes on while the entries it has read cost less than WALK_SHARE of the
    ranking (its cost in the planner's units over WALK_ENTRY_COST), then ranks what is
    left: a filter that shuns the top of the sort (a key whose calls are never the
    cheapest) costs at most about 1.5 times its ranking."""
    ordering, cursor = filterset.ordering_value, filterset.cursor_value
    size = filterset.page_size_value
    if kind.model is not UsageRecord:
        return keyset_page(queryset, ordering, cursor, size), None
    if ordering.lstrip("-") == "occurred_at":
        if not _applied_filters(filterset):
            return keyset_page(queryset, ordering, cursor, size), None
        # Filtered: the page's keys first, then its rows by primary key. The keys come from
        # a filter's index entries (index-only), the other filters checked on them where it
        # carries their columns: no row is read only to be dropped. Whole rows in time order
        # tempted the planner to walk the time index instead, checking each row: one binding
        # code's calls, none among the newest 280,000, took 0.17 s (its keys: 0.1 ms); for
        # filters that keep few of each other's matches, 0.9 s over 90 days.
        rows, read = sorted_matches(keyset_queryset(queryset, ordering, cursor), size + 1)
        return page_of(rows, ordering, cursor, size, ranked=read), None
    # A minute wider at its start, the window holds every match however late it is read
    # again (the rows are checked by `queryset`).
    window = filterset.within_window(UsageRecord.objects.all(), margin=WINDOW_MARGIN)
    # Where one filter's index holds its rows in the sort's order, the walk goes down that
    # index: it meets that filter's matches only.
    paired = _paired_window(filterset, window, ordering.lstrip("-"))
    ranking = keyset_queryset(queryset, ordering, cursor, sort_matches=True)
    # One filter: its walk is one process's work, its ranking (parallel) that of several,
    # whose planned cost is each one's share: counted for them all, the walk keeps its
    # budget on a vacuumed table (a model's 146,000 calls costed 11,900 each, ranked in 68
    # ms, where a walk of its own index takes 2 ms). Combined filters keep the share: their
    # walks fail more often, and wider ones cost more than they saved (176 drawn cases:
    # p95 101 → 119 ms, p99 153 → 299 ms, 2026-12-05).
    ranked_keys = ranking.values_list("pk", "occurred_at")[:size + 1]
    ranking_plan = _plan(ranked_keys)
    ranking_cost = planned_cost(ranked_keys, plan=ranking_plan,
                                every_process=len(_applied_filters(filterset)) <= 1)
    # The matches' count, for the page's total (a deeper page's cursor carries it): on the
    # first page the ranking's plan holds it (one EXPLAIN fewer).
    planned = None
    if carried is None:
        planned = _matches(ranking_plan) if cursor is None else planned_rows(queryset)
    anchor = _anchor(filterset, window)
    if anchor is not None:
        anchored = keyset_queryset(anchor, ordering, cursor, sort_matches=True)
        anchored_cost = planned_cost(anchored.values_list("pk", "occurred_at")[:ANCHOR_BATCH])
        if anchored_cost < ranking_cost:
            ranking_cost = anchored_cost
        else:
            anchor = None
    walk_budget = WALK_SHARE * ranking_cost / max(WALK_ENTRY_COST, 1e-9)
    if paired is not None:
        return _walked_page(paired, queryset, ordering, cursor, size,
                            walk_budget / PAIRED_ENTRY_FACTOR, anchor, paired=True), planned
    return _walked_page(window, queryset, ordering, cursor, size, walk_budget, anchor), planned


WINDOW_MARGIN = timedelta(minutes=1)

# Combined filters: the anchor's matches ranked on its index entries (each ranking reads
# every one of them), their rows checked against the other filters by primary key, a batch
# at a time: first ANCHOR_BATCH, then at least PROBE_GROWTH times more. One ranking hands
# over ANCHOR_RANKED keys, so the first batches need no ranking of their own (ranking a
# channel's 286,000 streamed calls: 82 ms for 500 keys, 90 ms for 2,000; a second ranking
# for a second batch cost as much again, 2026-12-05). After ANCHOR_ROUNDS rankings the rest
# is ranked as without an anchor. Where the other filters keep few of the anchor's costliest
# matches (a cheap key's calls among a channel's), each batch more costs more than the
# ranking it might save. On 10M rows (2026-12-05, 64 combined cases): no anchor p95 662 ms,
# worst 907; unbounded batches worst 9.5 s; 500 then 2,000: p95 220, worst 1.4 s; one of
# 2,000: p95 328, worst 1.2 s; one of 500: p95 214, worst 1.1 s.
ANCHOR_BATCH = 500
ANCHOR_RANKED = 2_000
# A next batch is read only where the share of matches so far says it fills the page
# within ANCHOR_MAX_BATCH entries (twice the entries that share needs): two filters of a
# few hundred thousand matches each, sharing 9 % of them, found 44 of a page's 51 in the
# first batch and then ranked all 28,000 shared matches row by row (1.4 s, 2026-12-05).
ANCHOR_ROUNDS = 2
ANCHOR_MAX_BATCH = 8_000


def _applied_filters(filterset):
    """The filters a list applies (time window, paging and search aside), by name."""
    data = filterset.form.cleaned_data
    return [name for name in filterset.filters
            if name not in WINDOW | PAGING | {"q"} and data.get(name) not in (None, "", [])]


def _anchor(filterset, window):
    """Of two or more filters, the one with the fewest matches in the window (the planner's
    estimate), applied to the window with the other filters its index carries (the
    few-valued columns every usage filter index INCLUDEs: envelope_indexes); else None.
    Every filter's index carries the sort keys, so the anchor's matches rank on index
    entries alone, where all the filters together must read each match's row to rank it.
    A filter over two columns (user: name or id) anchors on the one holding its values."""
    data = filterset.form.cleaned_data
    applied = _applied_filters(filterset)
    used = [name for name in applied if not name.startswith(NEGATION_PREFIX)]
    if len(used) < 2:
        return None
    candidates = []
    for name in used:
        columns = _columns(filterset.filters[name], window, data[name])
        if len(columns) == 1 and indexed_fields(UsageRecord, tuple(columns)):
            alone = filterset.filters[name].filter(window, data[name])
            candidates.append((planned_rows(alone), name, columns[0], alone))
    if not candidates:
        return None
    _, chosen, column, anchor = min(candidates, key=lambda found: found[0])
    return _with_carried(filterset, applied, chosen, column, anchor)[0]


def _with_carried(filterset, applied, name, column, rows):
    """(`rows` with every other applied filter that `column`'s index carries applied, so
    they are checked on its entries; the names of the filters so applied, `name` among
    them)."""
    data, carried, checked = filterset.form.cleaned_data, _index_columns(column), {name}
    for other in applied:
        if other != name and filterset.filters[other].field_name in carried:
            rows = filterset.filters[other].filter(rows, data[other])
            checked.add(other)
    return rows, checked


def _paired_window(filterset, window, key):
    """`window` narrowed to the applied filter whose index holds its rows in `key`'s order
    (models.envelope_indexes `paired`): a filter of one value, in one column; else None."""
    data = filterset.form.cleaned_data
    for name in _applied_filters(filterset):
        values = data[name]
        if name.startswith(NEGATION_PREFIX) or not isinstance(values, (list, tuple)) \
                or len(values) != 1:
            continue
        columns = _columns(filterset.filters[name], window, values)
        if len(columns) == 1 and (columns[0], key) in PAIRED:
            return filterset.filters[name].filter(window, values)
    return None


# The fields whose usage index holds their rows in page order: (field, occurred_at, id).
IN_PAGE_ORDER = {index.fields[0] for index in UsageRecord._meta.indexes
                 if index.fields[1:3] == ["occurred_at", "id"]}
# (field, sort key) of the usage indexes holding one field's rows in a sort's order.
PAIRED = {(index.fields[0], index.fields[1]) for index in UsageRecord._meta.indexes
          if index.fields[2:] == ["id", "occurred_at"] and len(index.fields) == 4}


def _columns(filter_, window, values):
    """The columns a filter matches its values in (see AnyOfFilter.columns)."""
    columns = getattr(filter_, "columns", None)
    return columns(window, values) if columns is not None else [filter_.field_name]


def _index_columns(field):
    """The columns (key and INCLUDE) of the usage index that leads with `field`."""
    for index in UsageRecord._meta.indexes:
        if index.fields and index.fields[0] == field:
            return {*index.fields, *index.include}
    return set()


def _anchored_rows(anchor, queryset, ordering, reached, limit):
    """(up to `limit` matches of `queryset` past `reached`, the position to rank the rest
    from, or None when nothing is left to read): the anchor's matches in sort order, ranked
    on its index entries (index-only), ANCHOR_RANKED at a time, their rows read by primary
    key with every filter applied in growing batches; the first batch is enough when the
    other filters keep a good share of the anchor's matches."""
    key = ordering.lstrip("-")
    rows, position, batch, handed = [], reached, ANCHOR_BATCH, ANCHOR_RANKED
    direction = reached.direction if reached is not None else NEXT
    checked = hits = 0
    for _ in range(ANCHOR_ROUNDS):
        keys = list(keyset_queryset(anchor, ordering, position, sort_matches=True)
                    .values_list(key, "pk")[:handed])
        start = 0
        while start < len(keys):
            candidates = keys[start:start + batch]
            start += len(candidates)
            # The batch's matches in the sort's order (the candidates', sorted after they
            # are read), only as many as the page still needs: a batch of 500 matches
            # made into rows cost 60 ms where the page took 50.
            needed = limit - len(rows)
            found = list(keyset_queryset(queryset.filter(pk__in=[pk for _, pk in candidates]),
                                         ordering, position, sort_matches=True)[:needed])
            rows += found
            if len(found) == needed:  # the page is full
                return rows, None
            hits += len(found)
            checked += len(candidates)
            position = Cursor(ordering, candidates[-1][0], candidates[-1][1], direction)
            if not hits:  # nothing says another batch would find more
                return rows, position
            # Another batch only where the share of matches so far fills the page within
            # ANCHOR_MAX_BATCH entries.
            batch = max(len(candidates) * PROBE_GROWTH,
                        math.ceil(2 * (limit - len(rows)) * checked / hits))
            if batch > ANCHOR_MAX_BATCH:
                return rows, position
        if len(keys) < handed:  # the anchor's matches ran out
            return rows, None
        handed = batch  # the next ranking hands over the next batch
    return rows, position


def _walked_page(window, queryset, ordering, cursor, size, walk_budget, anchor=None,
                 paired=False):
    """The walk down `window`'s entries in the sort's order (see page()), then the ranking
    of what is left.

    `paired`: `window` is one filter's own entries (`_paired_window`), and the ranking
    starts at the cursor again, dropping what the walk found: from where such a walk
    stops, far down the sort, the planner reads a ranking (cost < a cheap call's) as most
    of the table (a sequential scan: 0.6 s), where from the cursor it ranks on a filter's
    index entries as costed. (Whether to walk on is not foretold by the first probe's
    share of matches: a key's calls with the most tokens are mostly errors, its successes
    further down.)"""
    key = ordering.lstrip("-")
    descending = reads_descending(ordering, cursor)
    reached = cursor  # the walk's position: every entry up to it has been read
    rows, walked, entries = [], 0, PROBE_ENTRIES
    # Each probe costs less than ranking; the last one reads what the budget has left (a
    # key's 51st streamed call of a channel, by cost, was its 2,684th entry: a probe of
    # 2,000 then none of 8,000 within a budget of 6,700 ranked 286,000 entries instead).
    while (entries := min(entries, int(walk_budget) - walked)) >= PROBE_ENTRIES:
        # The probe's last entry: the entries-th of the window after the position.
        last = (keyset_queryset(window, ordering, reached).values_list(key, "id")
                [entries - 1:entries].first())
        probe = keyset_queryset(queryset, ordering, reached)
        if last is not None:  # up to and with that entry: a range of the sort's index
            within = TupleGreaterThanOrEqual if descending else TupleLessThanOrEqual
            probe = probe.filter(within(Tuple(F(key), F("id")), last))
        rows += probe[:size + 1 - len(rows)]
        if len(rows) > size or last is None:  # a full page, or the window's end
            return page_of(rows, ordering, cursor, size)
        walked += entries
        reached = Cursor(ordering, last[0], last[1],
                         cursor.direction if cursor is not None else NEXT)
        entries *= PROBE_GROWTH
    # Ranking what is left costs less than walking on (or the matches are few).
    if paired:
        rows, reached = [], cursor
    if anchor is not None:
        more, reached = _anchored_rows(anchor, queryset, ordering, reached,
                                       size + 1 - len(rows))
        rows += more
        if reached is None:  # a full page, or every match read
            return page_of(rows, ordering, cursor, size)
    ranked = keyset_queryset(queryset, ordering, reached, sort_matches=True)
    more, count = sorted_matches(ranked, size + 1 - len(rows))
    return page_of(rows + more, ordering, cursor, size, ranked=len(rows) + count)
