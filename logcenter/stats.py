"""Usage statistics: totals and time buckets, grouped by model, user, key, upstream, ….

The usage list's FilterSet validates the parameters and the access rule scopes them, as
everywhere. Whole hours are read from the narrowest hourly rollup that has the query's
dimensions, and only the partial hours at the edges of the range from the raw rows, so a
30-day chart reads rollup rows instead of millions of calls. Filters no rollup can answer
(channel, protocol, cost range, free text …) and buckets that do not fall on whole UTC
hours (1-minute buckets, zones with :30 offsets) are computed from the raw rows.
"""

import zoneinfo
from bisect import bisect_right
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from datetime import timezone as dt_timezone
from decimal import Decimal

from django.db.models import Count, Sum
from django.db.models.functions import TruncDay, TruncHour, TruncMinute
from django.utils import timezone

from . import selectors
from .access import access_for
from .models import USAGE_ROLLUPS
from .registry import registry

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
}
# Filters a rollup can answer, and the dimensions each one reads.
ROLLUP_FILTERS = {
    "user": {"username", "user_id"}, "user_id": {"user_id"}, "username": {"username"},
    "api_key": {"api_key_name", "api_key_id"}, "api_key_id": {"api_key_id"},
    "api_key_name": {"api_key_name"}, "group": {"group"}, "endpoint": {"endpoint"},
    "platform_model": {"platform_model"}, "upstream_name": {"upstream_name"},
    "status": {"status"},
}
NOT_FILTERS = {"start_time", "end_time", "range", "ordering", "cursor", "page_size"}
# output name: (raw aggregate, rollup aggregate)
MEASURES = {
    "requests": (Count("id"), Sum("requests")),
    "input_tokens": (Sum("prompt_tokens"), Sum("prompt_tokens")),
    "output_tokens": (Sum("completion_tokens"), Sum("completion_tokens")),
    "cached_tokens": (Sum("cached_tokens"), Sum("cached_tokens")),
    "total_tokens": (Sum("total_tokens"), Sum("total_tokens")),
    "cost": (Sum("cost"), Sum("cost")),
    "quota": (Sum("quota"), Sum("quota")),
    "credits": (Sum("credits"), Sum("credits")),
    "latency_ms_sum": (Sum("latency_ms"), Sum("latency_ms_sum")),
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

    @property
    def used_filters(self):
        data = self.filterset.form.cleaned_data
        return {k for k, v in data.items() if k not in NOT_FILTERS and v not in (None, "")}

    @property
    def rollup(self):
        """The narrowest rollup with every dimension this query groups or filters by
        (a member's own figures need user_id); None when only raw rows can answer."""
        if not self.used_filters <= set(ROLLUP_FILTERS):
            return None
        needed = set(self.group_fields)
        for name in self.used_filters:
            needed |= ROLLUP_FILTERS[name]
        if not access_for(self.user, registry["usage"]).can_view_all:
            needed.add(registry["usage"].owner_field)
        return next((r for r in USAGE_ROLLUPS if needed <= set(r.DIMENSIONS)), None)

    @property
    def rollup_ok(self):
        return self.rollup is not None


def parse(user, params, *, group_by="", default_range=timedelta(days=1)):
    """Validate like the usage list; the time range becomes [start, end) of the stats and
    the other filters a FilterSet without any time window of its own."""
    kind = registry["usage"]
    windowed = selectors.log_filter(kind, user, params)
    data = windowed.form.cleaned_data
    now = timezone.now()
    start, _, _ = windowed.time_window
    end = min(data.get("end_time") or now, now)
    unwindowed = {k: v for k, v in params.items() if k not in NOT_FILTERS}
    filterset = selectors.log_filter(kind, user, {**unwindowed, "range": "all"})
    if start is None and data.get("range") == "all":
        # All time: from the first row this user may see under these filters.
        start = filterset.qs.order_by("occurred_at").values_list("occurred_at",
                                                                  flat=True).first()
    if start is None:
        start = end - default_range
    access = access_for(user, kind)
    measures = [m for m in MEASURES if access.can_view_cost or m not in COST_MEASURES]
    tz = timezone.get_current_timezone()
    if isinstance(tz, dt_timezone):
        tz = zoneinfo.ZoneInfo("UTC")
    return regroup(Query(user, filterset, start, end, [], [], measures, tz), group_by)


def regroup(query, group_by):
    """The same validated query, grouped by `group_by` (comma-separated public names)."""
    names = [g.strip() for g in (group_by or "").split(",") if g.strip()]
    unknown = [g for g in names if g not in GROUP_BY]
    if unknown:
        raise StatsError("group_by", f"Unknown: {', '.join(unknown)}. Use any of: "
                                     f"{', '.join(GROUP_BY)}.")
    return replace(query, group_fields=[GROUP_BY[g] for g in names], group_names=names)


# --- reading ------------------------------------------------------------------------

def _floor_hour(value):
    return value.replace(minute=0, second=0, microsecond=0)


def _ceil_hour(value):
    floor = _floor_hour(value)
    return floor if floor == value else floor + timedelta(hours=1)


def _raw(query, start, end, trunc=None):
    """Grouped sums of the raw rows in [start, end): [(time key or None, dims, sums)]."""
    if start >= end:
        return []
    queryset = query.filterset.qs.filter(occurred_at__gte=start, occurred_at__lt=end)
    fields = list(query.group_fields)
    if trunc is not None:
        queryset = queryset.annotate(lc_bucket=trunc)
        fields = ["lc_bucket", *fields]
    sums = {m: MEASURES[m][0] for m in query.measures}
    return _grouped(queryset, fields, sums, query, "lc_bucket")


def _grouped(queryset, fields, sums, query, time_field):
    """GROUP BY `fields` (or one total row when there are none)."""
    if fields:
        rows = queryset.order_by().values(*fields).annotate(**sums)
    else:  # .values() without fields would group by every column
        rows = [queryset.order_by().aggregate(**sums)]
    return [(row.get(time_field), tuple(row[f] for f in query.group_fields),
             {m: row[m] or 0 for m in query.measures}) for row in rows]


def _rollup(query, start, end, by_hour):
    """The same from the hourly rollup, for whole hours in [start, end)."""
    if start >= end:
        return []
    queryset = access_for(query.user, registry["usage"]).scope(query.rollup.objects.all())
    data = query.filterset.form.cleaned_data
    for name in query.used_filters:
        queryset = query.filterset.filters[name].filter(queryset, data[name])
    queryset = queryset.filter(hour__gte=start, hour__lt=end)
    fields = (["hour"] if by_hour else []) + list(query.group_fields)
    sums = {m: MEASURES[m][1] for m in query.measures}
    return _grouped(queryset, fields, sums, query, "hour")


def _pieces(query, by_hour, source="auto"):
    """Grouped sums over [start, end): rollup for whole hours, raw rows for the edges."""
    start, end = query.start, query.end
    inner_start, inner_end = _ceil_hour(start), _floor_hour(end)
    if source == "raw" or not query.rollup_ok or inner_start >= inner_end:
        return _raw(query, start, end, TruncHour("occurred_at", tzinfo=dt_timezone.utc)
                    if by_hour else None)
    trunc = TruncHour("occurred_at", tzinfo=dt_timezone.utc) if by_hour else None
    return (_raw(query, start, inner_start, trunc)
            + _rollup(query, inner_start, inner_end, by_hour)
            + _raw(query, inner_end, end, trunc))


def _merge(pieces, measures):
    merged = {}
    for key, sums in pieces:
        total = merged.setdefault(key, {m: 0 for m in measures})
        for m in measures:
            total[m] += sums[m]
    return merged


def _present(query, dims, sums):
    out = {m: (str(Decimal(sums[m]).quantize(Decimal("0.00000001"))) if m == "cost"
               else str(Decimal(sums[m]).quantize(Decimal("0.0001"))) if m == "credits"
               else int(sums[m])) for m in query.measures if m != "latency_ms_sum"}
    requests = int(sums["requests"])
    out["avg_latency_ms"] = round(sums["latency_ms_sum"] / requests) if requests else 0
    for name, value in zip(query.group_names, dims):
        out[name] = value
    return out


def totals(query, source="auto"):
    """[{measures…, <group names>…}] for the whole range, biggest cost (or requests) first."""
    merged = _merge(((dims, sums) for _, dims, sums in _pieces(query, False, source)),
                    query.measures)
    if not merged and not query.group_fields:
        merged = {(): {m: 0 for m in query.measures}}
    order = "cost" if "cost" in query.measures else "requests"
    rows = [_present(query, dims, sums) for dims, sums in merged.items()]
    rows.sort(key=lambda r: Decimal(str(r[order])), reverse=True)
    return rows


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


def buckets(query, width, source="auto"):
    if width not in WIDTHS:
        raise StatsError("bucket_width", "Use 1m, 1h or 1d.")
    edges = bucket_edges(query, width)
    # The first and last buckets may be partial: they hold only rows inside the range.
    hour_aligned = all(e.minute == 0 and e.second == 0 for e in edges)
    if width == "1m" or not hour_aligned:
        trunc = {"1m": TruncMinute, "1h": TruncHour, "1d": TruncDay}[width]
        pieces = _raw(query, query.start, query.end, trunc("occurred_at", tzinfo=query.tz))
    else:
        pieces = _pieces(query, True, source)
    per_bucket = [{} for _ in edges[:-1]]
    for when, dims, sums in pieces:
        index = bisect_right(edges, when.astimezone(dt_timezone.utc)) - 1
        if 0 <= index < len(per_bucket):
            total = per_bucket[index].setdefault(dims, {m: 0 for m in query.measures})
            for m in query.measures:
                total[m] += sums[m]
    data = []
    for i, groups in enumerate(per_bucket):
        if not groups and not query.group_fields:
            groups = {(): {m: 0 for m in query.measures}}  # empty buckets are zeros
        results = [_present(query, dims, sums) for dims, sums in groups.items()]
        order = "cost" if "cost" in query.measures else "requests"
        results.sort(key=lambda r: Decimal(str(r[order])), reverse=True)
        data.append({"start_time": _iso(edges[i]), "end_time": _iso(edges[i + 1]),
                     "results": results})
    return data


def _iso(value):
    return value.astimezone(dt_timezone.utc).isoformat().replace("+00:00", "Z")


# --- the figures the stats endpoint and the usage page show --------------------------

RATE_WINDOW_SECONDS = 60


def usage_rates(user, params):
    """Requests and tokens in the last 60 seconds under the same (non-time) filters."""
    recent = {k: v for k, v in params.items() if k not in NOT_FILTERS}
    recent["start_time"] = str(int(timezone.now().timestamp()) - RATE_WINDOW_SECONDS)
    queryset = selectors.log_filter(registry["usage"], user, recent).qs
    figures = queryset.order_by().aggregate(requests=Count("id"), tokens=Sum("total_tokens"))
    return {"rpm": figures["requests"] or 0, "tpm": figures["tokens"] or 0}


def usage_stats(user, params):
    """Totals of the usage filter (its time range) plus rpm/tpm: the stats endpoint's body."""
    query = parse(user, params)
    figures = totals(query)[0]
    stats = {"requests": figures["requests"], "prompt_tokens": figures["input_tokens"],
             "completion_tokens": figures["output_tokens"],
             "cached_tokens": figures["cached_tokens"], "total_tokens": figures["total_tokens"]}
    for name in ("cost", "quota", "credits"):
        if name in figures:
            stats[name] = figures[name]
    stats.update(usage_rates(user, params))
    return stats
