"""Usage statistics: totals and time buckets, grouped by model, user, key, upstream, ….

The usage list's FilterSet validates the parameters and the access rule scopes them, as
everywhere. Whole hours are read from the narrowest hourly rollup that has the query's
dimensions, and only the partial hours at the edges of the range from the raw rows, so a
30-day chart reads rollup rows instead of millions of calls. Filters no rollup can answer
(channel, protocol, cost range, free text …) and buckets that do not fall on whole UTC
hours (1-minute buckets, zones with :30 offsets) are computed from the raw rows.
"""

import hashlib
import logging
import zoneinfo
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from datetime import timezone as dt_timezone
from decimal import Decimal

from django.core.cache import cache
from django.core.exceptions import PermissionDenied
from django.db.models import BigIntegerField, Count, IntegerField, Min, Sum
from django.db.models.functions import Cast, TruncDay, TruncHour, TruncMinute
from django.utils import timezone

from logcenter.core.access import access_for
from logcenter.core.filters import NEGATION_PREFIX
from logcenter.core.query import PAGING, LogQuery
from logcenter.engines import engine_for
from logcenter.models import CLOSED_HOURS_LAG, USAGE_ROLLUPS, UsageRollupEpoch
from logcenter.core.registry import registry

logger = logging.getLogger(__name__)

WIDTHS = {  # width: (step, most buckets per request)
    "1m": (timedelta(minutes=1), 1440),
    "1h": (timedelta(hours=1), 168),
    "1d": (timedelta(days=1), 366),
}
GROUP_BY = {  # public name: usage field (also a rollup dimension)
    "model": "platform_model",
    "user": "username",
    "api_key": "api_key_id",
    "upstream": "upstream_name",
    "group": "group",
    "endpoint": "endpoint",
    "status": "status",
    "organization": "organization_id",
    "project": "project_id",
}
# Dimensions with thousands of values: buckets grouped by one keep the top groups and sum
# the rest (Query.limit_groups), unless asked for all.
WIDE_GROUP_BY = {"user", "api_key"}
WIDE_GROUPS_LIMIT = 10
MAX_GROUPS_LIMIT = 1000
# Filters a rollup can answer, and the dimensions each one reads.
ROLLUP_FILTERS = {
    "user": {"username", "user_id"}, "user_id": {"user_id"}, "username": {"username"},
    "api_key": {"api_key_name", "api_key_id"}, "api_key_id": {"api_key_id"},
    "api_key_name": {"api_key_name"}, "group": {"group"}, "endpoint": {"endpoint"},
    "platform_model": {"platform_model"}, "upstream_name": {"upstream_name"},
    "status": {"status"}, "organization_id": {"organization_id"},
    "project_id": {"project_id"},
}
# A negation reads the same dimensions as its filter.
ROLLUP_FILTERS.update({NEGATION_PREFIX + name: dims for name, dims in ROLLUP_FILTERS.items()})
# output name: (raw column, rollup column); a raw row counts as one request.
MEASURES = {
    "requests": (None, "requests"),
    "input_tokens": ("prompt_tokens", "prompt_tokens"),
    "output_tokens": ("completion_tokens", "completion_tokens"),
    "cached_tokens": ("cached_tokens", "cached_tokens"),
    "total_tokens": ("total_tokens", "total_tokens"),
    "cost": ("cost", "cost"),
    "quota": ("quota", "quota"),
    "credits": ("credits", "credits"),
    "latency_ms_sum": ("latency_ms", "latency_ms_sum"),
}
COST_MEASURES = {"cost", "quota", "credits"}


class StatsError(ValueError):
    """A bad stats parameter: `field` and a readable reason (HTTP 400)."""

    def __init__(self, field, reason):
        super().__init__(reason)
        self.field = field
        self.reason = reason


@dataclass
class Query:
    """A validated stats request."""

    user: object
    filterset: object  # the usage FilterSet, validated
    start: datetime
    end: datetime
    group_fields: list  # usage fields to group by
    group_names: list  # their public names
    measures: list  # output names the role may see
    tz: object
    asked: object = None  # the LogQuery as asked (its own window), for usage_rates
    # Groups kept per bucket, the rest summed into one "other" row (None: every group).
    limit_groups: int | None = None
    # No end_time was asked for: the range ends now, and its current hour is read whole
    # from the rollup and its inbox (every row stored for it) instead of row by row.
    open_end: bool = False

    @property
    def used_filters(self):
        return self.asked.used_filters()

    @property
    def rollup(self):
        """The narrowest rollup with every dimension this query groups or filters by,
        and every column the user's row rule reads (a member's own figures need user_id,
        an organization's its organization_id); None when only raw rows can answer."""
        if not self.used_filters <= set(ROLLUP_FILTERS):
            return None
        needed = set(self.group_fields)
        for name in self.used_filters:
            needed |= ROLLUP_FILTERS[name]
        needed |= access_for(self.user, registry["usage"]).scope_fields
        return next((r for r in USAGE_ROLLUPS if needed <= set(r.DIMENSIONS)), None)

    @property
    def rollup_ok(self):
        return self.rollup is not None


def parameter_names() -> frozenset:
    """What the stats take: the usage list's parameters but its paging."""
    return registry["usage"].filterset.parameter_names() - PAGING


def parse(user, params, *, group_by="", default_range=timedelta(days=1), also=()):
    """Validate like the usage list; the time range becomes [start, end) of the stats and
    the other filters a FilterSet without any time window of its own. PermissionDenied
    without view_stats_usagerecord. `also`: the face's own parameters."""
    kind = registry["usage"]
    if not access_for(user, kind).can_view_stats:
        raise PermissionDenied("Your role may not see usage statistics.")
    windowed = LogQuery.parse(kind, user, params, also=also)
    data = windowed.values
    now = timezone.now()
    start, _, _ = windowed.time_window
    end = min(data.get("end_time") or now, now)
    filterset = windowed.rewindowed(range="all").filterset
    if start is None and data.get("range") == "all":
        # All time: from the first row this user may see under these filters.
        start = filterset.qs.order_by("occurred_at").values_list("occurred_at",
                                                                  flat=True).first()
    if start is None:
        start = end - default_range
    access = access_for(user, kind)
    if access.window_start is not None:
        # Nothing before the plan's window: its partial first hour is read from raw rows.
        start = min(max(start, access.window_start), end)
    measures = [m for m in MEASURES if access.can_view_cost or m not in COST_MEASURES]
    tz = timezone.get_current_timezone()
    if isinstance(tz, dt_timezone):
        tz = zoneinfo.ZoneInfo("UTC")
    return regroup(Query(user, filterset, start, end, [], [], measures, tz, windowed,
                         open_end=not data.get("end_time")), group_by)


def regroup(query, group_by):
    """The same validated query, grouped by `group_by` (comma-separated public names)."""
    if len(group_by or "") > 200:
        raise StatsError("group_by", "Too long.")
    names = [g.strip() for g in (group_by or "").split(",") if g.strip()]
    unknown = [g for g in names if g not in GROUP_BY]
    if unknown:
        raise StatsError("group_by", f"Unknown: {', '.join(unknown)}. Use any of: "
                                     f"{', '.join(GROUP_BY)}.")
    repeated = sorted({g for g in names if names.count(g) > 1})
    if repeated:
        raise StatsError("group_by", f"Given more than once: {', '.join(repeated)}.")
    return replace(query, group_fields=[GROUP_BY[g] for g in names], group_names=names)


# --- reading ------------------------------------------------------------------------

def _floor_hour(value):
    return value.replace(minute=0, second=0, microsecond=0)


def _ceil_hour(value):
    floor = _floor_hour(value)
    return floor if floor == value else floor + timedelta(hours=1)


@dataclass(frozen=True)
class Piece:
    """Rows that answer part of a stats query: a queryset, the fields it is grouped by and
    {measure: column summed}. `closed`: rollup rows of closed hours only, whose sums can be
    cached (they change only with UsageRollupEpoch). Unpacks as (queryset, fields, columns)."""

    queryset: object
    fields: list
    columns: dict
    closed: bool = False
    # Which of its query's rows it reads: (table, start, end, unbucketed). Pieces of
    # queries sharing one FilterSet (regroup()) with the same span read the same rows.
    span: tuple = ()

    def __iter__(self):
        return iter((self.queryset, self.fields, self.columns))


def _raw_pieces(query, start, end, trunc=None, tz=None):
    """[Piece]: the raw rows in [start, end)."""
    if start >= end:
        return []
    queryset = query.filterset.qs.filter(occurred_at__gte=start, occurred_at__lt=end)
    fields = list(query.group_fields)
    if trunc is not None:
        queryset = queryset.annotate(lc_bucket=trunc("occurred_at", tzinfo=tz))
        fields = ["lc_bucket", *fields]
    return [Piece(queryset, fields, {m: MEASURES[m][0] for m in query.measures},
                  span=(queryset.model, start, end, trunc is None))]


def _rollup_piece(query, source, start, end, trunc, tz, closed=False):
    queryset = access_for(query.user, registry["usage"]).scope(source.objects.all(),
                                                               time_field="hour")
    data = query.filterset.form.cleaned_data
    for name in query.used_filters:
        queryset = query.filterset.filters[name].filter(queryset, data[name])
    queryset = queryset.filter(hour__gte=start, hour__lt=end)
    fields = list(query.group_fields)
    if trunc is not None:
        queryset = queryset.annotate(lc_bucket=trunc("hour", tzinfo=tz))
        fields = ["lc_bucket", *fields]
    return Piece(queryset, fields, {m: MEASURES[m][1] for m in query.measures}, closed,
                 span=(source, start, end, trunc is None))


def _rollup_pieces(query, start, end, trunc=None, tz=None):
    """The same from the hourly rollup, and from the inbox of sums not yet folded into it,
    for whole hours in [start, end): the rollup's closed hours (CLOSED_HOURS_LAG behind the
    clock) as a piece of their own, which totals() may answer from the cache."""
    if start >= end:
        return []
    closed_end = max(start, min(end, _floor_hour(timezone.now()) - CLOSED_HOURS_LAG))
    pieces = [_rollup_piece(query, query.rollup, start, closed_end, trunc, tz, closed=True)
              if closed_end > start else None,
              _rollup_piece(query, query.rollup, closed_end, end, trunc, tz)
              if end > closed_end else None]
    # The sums stored but not yet folded into the rollups (the PostgreSQL inbox) count too,
    # late ones for closed hours included.
    pieces += [_rollup_piece(query, inbox, start, end, trunc, tz)
               for inbox in engine_for(registry["usage"]).rollup_pending()]
    return [piece for piece in pieces if piece is not None]


def _pieces(query, trunc=None, source="auto", tz=None):
    """[Piece] whose rows together answer [start, end): the rollup for whole hours, raw rows
    for the partial hours at the edges (all raw when the rollup cannot answer, or `source`
    is "raw"); an open range's current hour is whole, every row stored for it. With
    `trunc`, each row carries its bucket start (lc_bucket), cut in `tz`."""
    start, end = query.start, query.end
    # An open range's current hour comes whole from the rollup: at 2,000 events/s its rows
    # number millions by the end of the hour, each read again by every figure.
    inner_start = _ceil_hour(start)
    inner_end = _ceil_hour(end) if query.open_end else _floor_hour(end)
    if source == "raw" or not query.rollup_ok or inner_start >= inner_end:
        return _raw_pieces(query, start, end, trunc, tz)
    return (_raw_pieces(query, start, inner_start, trunc, tz)
            + _rollup_pieces(query, inner_start, inner_end, trunc, tz)
            + _raw_pieces(query, inner_end, end, trunc, tz))


def _sums(columns, model):
    return {m: Count("id") if column is None else sum_of(model, column)
            for m, column in columns.items()}


def sum_of(model, column):
    """Sum(column), whole numbers as such: PostgreSQL sums integers as numeric, which came
    back as Decimals, slower to read, cache and add up than ints (a panel's open hours
    hold thousands of groups of nine sums each)."""
    if whole_numbers(model, column):
        return Cast(Sum(column), BigIntegerField())
    return Sum(column)


def whole_numbers(model, column) -> bool:
    """Whether `column` holds whole numbers (every integer field is an IntegerField)."""
    return isinstance(model._meta.get_field(column), IntegerField)


def _grouped(queryset, fields, columns, query):
    """Run one piece, summed per group: [(bucket start or None, dims, sums)]."""
    if not fields:  # .values() without fields would group by every column
        row = queryset.order_by().aggregate(**_sums(columns, queryset.model))
        return [(None, (), {m: row[m] or 0 for m in query.measures})]
    # Grouped by `fields` (values() before annotate()), read as tuples: a panel's open hours
    # hold thousands of groups, and a dict per row cost more than the read.
    sums = _sums(columns, queryset.model)
    rows = queryset.order_by().values(*fields).annotate(**sums).values_list(*fields, *sums)
    bucketed, width, measures = fields[0] == "lc_bucket", len(fields), list(sums)
    groups = slice(1 if bucketed else 0, width)
    return [(row[0] if bucketed else None, row[groups],
             dict(zip(measures, [value or 0 for value in row[width:]]))) for row in rows]


# How long a cached answer about closed hours is kept: it stays right until their version
# changes; the limit only lets unused answers go.
CLOSED_CACHE_SECONDS = 6 * 3600


class _ClosedHoursEpoch:
    """UsageRollupEpoch's version, read once per answer, in its snapshot, when first needed
    (empty where the row is missing, or the reads see no one snapshot: then nothing is
    cached)."""

    def __init__(self, engine):
        self._value = None if engine.reads_one_snapshot() else ""  # "": nothing cached

    @property
    def value(self):
        if self._value is None:
            self._value = UsageRollupEpoch.objects.values_list("closed_hours_version",
                                                               flat=True).first() or ""
        return self._value


def _grouped_or_cached(entries, epoch):
    """[_grouped(piece) for piece, query in entries], from the cache for pieces of closed
    hours: the same SQL (filters, scope, groups, hours: all in the statement) under the same
    version has the same answer."""
    if not epoch.value:
        return [_grouped(*piece, query) for piece, query in entries]
    return _cached_many([
        (("totals", epoch.value, *_identity(piece), tuple(query.measures)),
         lambda piece=piece, query=query: _grouped(*piece, query))
        for piece, query in entries])


def _identity(piece):
    """What makes a piece's rows what they are: its statement, groups and sums."""
    sql, params = piece.queryset.query.sql_with_params()
    return sql, tuple(map(str, params)), tuple(piece.fields), tuple(sorted(piece.columns.items()))


def _cached(identity, compute):
    """compute(), kept in the cache under `identity` (which holds the closed hours' version);
    computed as without a cache when the cache does not answer."""
    return _cached_many([(identity, compute)])[0]


def _cached_many(entries):
    """[compute() for identity, compute in entries], each kept in the cache under its
    `identity` (see _cached): one round trip to the cache for all of them."""
    keys = ["stats-closed:" + hashlib.sha256(repr(identity).encode()).hexdigest()
            for identity, _ in entries]
    try:
        found = cache.get_many(keys)
    except Exception as error:  # the cache is down: read the rollup, as without it
        logger.warning("stats cache unavailable: %s", error)
        return [compute() for _, compute in entries]
    missing = {}
    for key, (_, compute) in zip(keys, entries):
        if key not in found:
            found[key] = missing[key] = compute()
    if missing:
        try:
            cache.set_many(missing, CLOSED_CACHE_SECONDS)
        except Exception as error:
            logger.warning("stats cache unavailable: %s", error)
    return [found[key] for key in keys]


def _merge(pieces, measures):
    """{key: sums}: the (key, {measure: sum}) pieces summed per key."""
    merged = {}
    for key, sums in pieces:
        total = merged.get(key)
        if total is None:
            merged[key] = {m: sums[m] for m in measures}
        else:
            for m in measures:
                total[m] += sums[m]
    return merged


_CENTS = {"cost": Decimal("0.00000001"), "credits": Decimal("0.0001")}


def _present(query, dims, sums):
    out = {}
    for m in query.measures:
        if m in _CENTS:  # fixed-point text: "0.00000000", never "0E-8"
            out[m] = format(Decimal(sums[m]).quantize(_CENTS[m]), "f")
        elif m != "latency_ms_sum":
            out[m] = int(sums[m])
    requests, latency = int(sums["requests"]), int(sums["latency_ms_sum"])
    # Half up, in integers, as the database computes it (engines.postgres.buckets).
    out["avg_latency_ms"] = (2 * latency + requests) // (2 * requests) if requests else 0
    for name, value in zip(query.group_names, dims):
        out[name] = value
    return out


def totals(query, source="auto"):
    """[{measures…, <group names>…}] for the whole range, biggest cost (or requests) first."""
    return _totals_together({None: query}, source)[None]


def totals_by(query, groups, source="auto", *, order=None, first=None):
    """{group: totals(regroup(query, group))} for several groups (public names, one each;
    "" for the whole's totals), read together: the pieces every grouping reads from the
    same rows (a window's raw partial hours, the rollup inbox) are summed in one pass for
    all of them where the engine can (Engine.grouped_together; the usage panels' figures).
    `order` (a measure) ranks the groups by it, biggest first, then as totals() does;
    `first` keeps only the first so many (a top table presents ten, not every key)."""
    return _totals_together({group: regroup(query, group) for group in groups}, source,
                            order, first)


def _totals_together(queries, source, order=None, first=None):
    """{name: totals(query)} for {name: query}, the queries' pieces that read the same rows
    with the same sums read together (Engine.grouped_together)."""
    engine = engine_for(registry["usage"])
    found = {name: [] for name in queries}
    # One snapshot: a fold moving sums between the pieces' reads loses none.
    with engine.one_snapshot():
        epoch = _ClosedHoursEpoch(engine)
        alike = {}  # the same rows and sums: [(name, piece, query)]
        closed = []  # from the cache, each query's own: [(name, piece, query)]
        for name, query in queries.items():
            for piece in _pieces(query, None, source):
                if piece.closed:
                    closed.append((name, piece, query))
                    continue
                key = id(piece)  # one query: no other piece reads its rows
                if len(queries) > 1:  # the same rows, by the same filters, summed alike
                    key = (id(query.filterset), piece.span, tuple(piece.columns.items()))
                alike.setdefault(key, []).append((name, piece, query))
        cached = _grouped_or_cached([(piece, query) for _, piece, query in closed], epoch)
        for (name, _, _), rows in zip(closed, cached):
            found[name].append(rows)
        for entries in alike.values():
            results = engine.grouped_together([(piece, query) for _, piece, query in entries])
            for (name, _, _), rows in zip(entries, results):
                found[name].append(rows)
    return {name: _totals_of(query, found[name], order, first)
            for name, query in queries.items()}


def _totals_of(query, found, order=None, first=None):
    """totals()'s answer from its pieces' grouped rows."""
    merged = _merge([(dims, sums) for rows in found for _, dims, sums in rows],
                    query.measures)
    if not merged and not query.group_fields:
        merged = {(): {m: 0 for m in query.measures}}
    return _ranked(query, merged, order, first)


def _ranked(query, groups, order=None, first=None):
    """Presented groups, biggest cost (or requests) first, ties by group name; past
    query.limit_groups, the rest summed into one last row whose group names are null and
    whose `other_groups` says how many it holds. `order`: biggest of that measure first
    (ties as above); `first`: only the first so many, presented."""
    main = "cost" if "cost" in query.measures else "requests"
    order = order or main
    ranked = sorted(groups.items(),
                    key=lambda item: (-item[1][order], -item[1][main], item[0]))
    if first is not None:
        ranked = ranked[:first]
    limit = query.limit_groups
    if limit is None or len(ranked) <= limit:
        return [_present(query, dims, sums) for dims, sums in ranked]
    rest = _merge([((), sums) for _, sums in ranked[limit:]], query.measures)[()]
    other = _present(query, (None,) * len(query.group_fields), rest)
    other["other_groups"] = len(ranked) - limit
    return [*(_present(query, dims, sums) for dims, sums in ranked[:limit]), other]


def bucket_edges(query, width):
    """Bucket starts in UTC, aligned to the user's local clock (days start at midnight)."""
    step, limit = WIDTHS[width]
    if query.end - query.start > step * limit:
        raise StatsError("bucket_width", f"More than {limit} buckets of {width}: "
                                          "narrow the range or widen the buckets.")
    local_start = query.start.astimezone(query.tz)
    if width == "1d":
        first = local_start.replace(hour=0, minute=0, second=0, microsecond=0)
    elif width == "1h":
        first = local_start.replace(minute=0, second=0, microsecond=0)
    else:
        first = local_start.replace(second=0, microsecond=0)
    edges, cursor = [], first
    while cursor < query.end:
        edges.append(cursor.astimezone(dt_timezone.utc))
        if width == "1d":  # calendar days: 23 or 25 hours across DST changes
            naive = (cursor.replace(tzinfo=None) + step)
            cursor = naive.replace(tzinfo=query.tz)
        else:
            cursor = (cursor.astimezone(dt_timezone.utc) + step).astimezone(query.tz)
    return edges + [cursor.astimezone(dt_timezone.utc)]


def buckets(query, width, source="auto", limit=None):
    """[{start_time, end_time, results}] per bucket; with `limit`, only the first `limit`
    buckets are computed (a page), and a next one exists when more were in range."""
    if width not in WIDTHS:
        raise StatsError("bucket_width", "Use 1m, 1h or 1d.")
    edges = bucket_edges(query, width)
    if limit is not None and len(edges) - 1 > limit:
        edges = edges[:limit + 1]
        query = replace(query, end=edges[-1], open_end=False)
    # The first and last buckets may be partial: they hold only rows inside the range.
    trunc = {"1m": TruncMinute, "1h": TruncHour, "1d": TruncDay}[width]
    hour_aligned = all(e.minute == 0 and e.second == 0 for e in edges)
    if width == "1m" or not hour_aligned:
        source = "raw"  # buckets that are not whole hours cannot come from hourly rollups
    # Days are the user's calendar days. Minutes, and hours in zones on whole UTC hours,
    # are cut in UTC: the same edges, without the repeated hour of a DST change.
    tz = (dt_timezone.utc if width == "1m" or (width == "1h" and hour_aligned)
          else query.tz)
    found = _bucket_results(query, edges, trunc, source, tz)
    zeros = [] if query.group_fields else [_present(query, (), {m: 0 for m in query.measures})]
    return [{"start_time": _iso(edges[i]), "end_time": _iso(edges[i + 1]),
             "results": found.get(edges[i]) or [dict(z) for z in zeros]}
            for i in range(len(edges) - 1)]


# Fewer closed buckets than this are read as they are: caching them would save nothing.
CACHED_BUCKETS_FROM = 3


def _bucket_results(query, edges, trunc, source, tz):
    """{bucket start: presented groups}. The buckets wholly within the rollup's closed hours
    (CLOSED_HOURS_LAG behind the clock, and past the raw rows of a partial first hour) come
    from the cache, keyed by UsageRollupEpoch's version, while the rollup inbox holds none
    of their hours: a bucket's groups are ranked within it, so a range of whole buckets is
    answered apart from the others. The rest is read as always."""
    engine = engine_for(registry["usage"])
    if source == "raw" or not query.rollup_ok:
        return engine.buckets(query, _pieces(query, trunc, source, tz), edges, tz)
    closed_end = min(_floor_hour(timezone.now()) - CLOSED_HOURS_LAG, query.end)
    first = next((i for i, edge in enumerate(edges) if edge >= query.start), len(edges))
    last = max((i for i, edge in enumerate(edges) if edge <= closed_end), default=0)
    with engine.one_snapshot():
        epoch = _ClosedHoursEpoch(engine)
        if (last - first < CACHED_BUCKETS_FROM or not epoch.value
                or _pending_within(engine, edges[first], edges[last])):
            return engine.buckets(query, _pieces(query, trunc, source, tz), edges, tz)
        found = {}
        for start, end, cut in ((query.start, edges[first], edges[:first + 1]),
                                (edges[last], query.end, edges[last:])):
            if start < end:
                part = replace(query, start=start, end=end,
                               open_end=query.open_end and end == query.end)
                found.update(engine.buckets(part, _pieces(part, trunc, source, tz), cut, tz))
        closed = replace(query, start=edges[first], end=edges[last], open_end=False)
        pieces = _pieces(closed, trunc, source, tz)
        found.update(_cached(
            ("buckets", epoch.value, *_identity(pieces[0]), query.limit_groups,
             tuple(query.measures), tuple(query.group_names), str(tz)),
            lambda: engine.buckets(closed, pieces, edges[first:last + 1], tz)))
        return found


def _pending_within(engine, start, end):
    """Whether sums of [start, end) wait in the rollup inbox (a late row not yet folded)."""
    return any(inbox.objects.filter(hour__gte=start, hour__lt=end).exists()
               for inbox in engine.rollup_pending())


def _utc(when, tz):
    """A bucket start as the database gave it (naive time in `tz`, or aware) in UTC."""
    return (when if when.tzinfo is not None else when.replace(tzinfo=tz)).astimezone(
        dt_timezone.utc)


def _iso(value):
    return value.astimezone(dt_timezone.utc).isoformat().replace("+00:00", "Z")


# --- the figures the stats endpoint and the usage page show --------------------------

RATE_WINDOW_SECONDS = 60
# The newest calls the panel's p95 card reads, and rpm/tpm past a busy minute. 10,000 put
# the 95th percentile within about 0.2 points of the whole's (its standard error there);
# at 2,000 calls a second the last minute holds 120,000 rows just written (counting them
# cost a panel 60-150 ms), and the newest 10,000 span five seconds of the same traffic.
# Beside that ingestion, reading 20,000 took 14-18 ms a panel (p50; up to 46 ms), 10,000
# 7.5 ms (2026-12-05).
LATEST_SAMPLE = 10_000


def _rate_window(now):
    """The start of the rates' last 60 seconds (whole seconds, as the filters take them)."""
    return datetime.fromtimestamp(int(now.timestamp()) - RATE_WINDOW_SECONDS, dt_timezone.utc)


def _rates(now, requests, tokens, oldest, sampled):
    """rpm/tpm: the counts themselves, or (`sampled`: the calls read all fall within the
    minute, which held more) their rate over the seconds back to the oldest, per minute."""
    if not sampled:
        return {"rpm": requests, "tpm": tokens, "rates_sampled": False}
    per_minute = RATE_WINDOW_SECONDS / max((now - oldest).total_seconds(), 0.001)
    return {"rpm": round(requests * per_minute), "tpm": round(tokens * per_minute),
            "rates_sampled": True}


def usage_rates(query):
    """Requests and tokens in the last 60 seconds under the stats query's filters, counted;
    past LATEST_SAMPLE calls (`rates_sampled`), the rate of the newest LATEST_SAMPLE + 1."""
    now = timezone.now()
    since = _rate_window(now)
    queryset = query.asked.rewindowed(start_time=str(int(since.timestamp()))).queryset
    # An aggregate over a slice: the database reads at most LATEST_SAMPLE + 1 newest rows.
    latest = queryset.order_by("-occurred_at", "-id")[:LATEST_SAMPLE + 1].aggregate(
        requests=Count("id"), tokens=Sum("total_tokens"), oldest=Min("occurred_at"))
    return _rates(now, latest["requests"], latest["tokens"] or 0, latest["oldest"],
                  sampled=latest["requests"] > LATEST_SAMPLE)


def latest_figures(query):
    """The panel's p95 latency and rpm/tpm from one read of the filter's newest
    LATEST_SAMPLE + 1 calls in the window (Engine.latest_calls): {"p95_latency_ms",
    "p95_sampled", "rates"}. Where the window ends now and began before the last minute,
    the rates' calls are among those read (or fill them: then they are the rate); else
    the rates are read apart (usage_rates)."""
    now = timezone.now()
    since = _rate_window(now)
    latest = engine_for(registry["usage"]).latest_calls(query.asked.queryset, LATEST_SAMPLE,
                                                        since)
    sampled = latest["rows"] > LATEST_SAMPLE
    if query.open_end and query.start <= since:
        # Read newest first: the minute's calls all were, unless the oldest read is in it.
        rates = _rates(now, latest["since_requests"], latest["since_tokens"],
                       latest["oldest"], sampled=sampled and latest["oldest"] >= since)
    else:
        rates = usage_rates(query)
    return {"p95_latency_ms": latest["p95"], "p95_sampled": sampled, "rates": rates}


def usage_stats(user, params, *, also=()):
    """Totals of the usage filter (its time range) plus rpm/tpm: the stats endpoint's body."""
    query = parse(user, params, also=also)
    return usage_figures(query, totals(query)[0])


def usage_figures(query, figures, rates=None):
    """The stats endpoint's body from the totals row of `query` (figures): its sums under
    the endpoint's names, and rpm/tpm (`rates`, or usage_rates())."""
    stats = {"requests": figures["requests"], "prompt_tokens": figures["input_tokens"],
             "completion_tokens": figures["output_tokens"],
             "cached_tokens": figures["cached_tokens"], "total_tokens": figures["total_tokens"]}
    for name in ("cost", "quota", "credits"):
        if name in figures:
            stats[name] = figures[name]
    stats.update(rates or usage_rates(query))
    return stats
