"""Charts for the list pages, drawn on the server as SVG (no script, no CDN).

Each bar segment links to the list filtered to its time bucket and series, so a spike is
one click from the rows behind it.
"""

import math
import zlib
from datetime import datetime, timedelta
from decimal import Decimal
from urllib.parse import urlencode

from django.db import connection
from django.db.models import Count
from django.db.models.functions import TruncDay, TruncHour
from django.utils import timezone
from django.utils.html import escape
from django.utils.safestring import mark_safe
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy
from django.utils.translation import pgettext

from logcenter.core import units
from logcenter.core.access import access_for
from logcenter.core.query import LogQuery
from logcenter.analytics import stats
from logcenter.core.registry import registry

PALETTE = ["#2557d6", "#12805c", "#b54708", "#7a5af8", "#c11574", "#0e9384", "#dc6803",
           "#1570ef", "#6172f3", "#4e5ba6"]
OTHER_COLOUR = "#98a2b3"  # the grey of "the rest"
OTHER = "other"
# What a chart's unit is called beside its title, and what an empty chart says.
UNIT_LABELS = {"USD": gettext_lazy("USD"), "requests": gettext_lazy("requests"),
               "events": gettext_lazy("events")}
NOTHING = {"USD": gettext_lazy("No cost in this window."),
           "requests": gettext_lazy("No requests in this window."),
           "events": gettext_lazy("No events in this window.")}
USAGE_TITLES = {("cost", True): gettext_lazy("Cost per hour by model"),
                ("cost", False): gettext_lazy("Cost per day by model"),
                ("requests", True): gettext_lazy("Requests per hour by model"),
                ("requests", False): gettext_lazy("Requests per day by model")}
TOP_ORDERS = ("cost", "requests", "total_tokens")
TOP_ROWS = 10  # rows of each top table


def choose_width(start, end):
    return "1h" if end - start <= timedelta(days=2) else "1d"


def stacked_bars_svg(buckets, *, unit, title, link, colours=None, width=960, height=230,
                     data_link=None, labels=None):
    """buckets: [(start, end, {series: value})]. link(start, end, series) -> URL, or None
    for a segment that no list filter can show (OTHER: the rest of the models).

    The bars' links are for the pointer: out of the tab order (a keyboard would stop at
    each of hundreds of segments). `data_link`, the chart's one focusable link, leads to
    the data behind the whole chart.

    Series stack and are listed biggest first, OTHER last; with `colours` (levels), in
    that dict's order and colours instead. `labels` names series in the reader's language
    (a choice's label: a level); other series are data (models, events), shown as stored."""
    labels = {**(labels or {}), OTHER: pgettext("chart legend", "other")}
    totals = _series_totals(buckets)
    if colours:
        rank = list(colours)
        series = sorted(totals, key=lambda n: (rank.index(n) if n in rank else len(rank), n))
    else:
        series = sorted(totals, key=lambda n: (n == OTHER, -totals[n], n))
    colour = _series_colours(series, colours or {})
    top = _nice_top(float(max([sum(values.values()) for _, _, values in buckets] + [0])),
                    whole=unit != "USD")
    tz = timezone.get_current_timezone_name()
    note = gettext("({unit}; times in {zone})").format(unit=UNIT_LABELS.get(unit, unit),
                                                       zone=tz)
    data_words = gettext("Data behind this chart")  # not inside an f-string: xgettext skips those
    data = (f' <a class="chart-data" href="{escape(data_link)}">{escape(data_words)}</a>'
            if data_link else "")
    caption = (f'<figcaption>{escape(title)} <small class="muted">{escape(note)}</small>'
               f"{data}</figcaption>")
    if not top:  # nothing to draw: say so, rather than an empty plot under five zero labels
        nothing = NOTHING.get(unit) or gettext("Nothing in this window.")
        return mark_safe(f'<figure class="chart-box">{caption}<p class="chart-empty muted">'
                         f"{escape(nothing)}</p></figure>")
    left, right, upper, lower = 64, 12, 14, 38
    plot_w, plot_h = width - left - right, height - upper - lower
    scale = plot_h / float(top) if top else 0
    bar_w = plot_w / max(len(buckets), 1)
    parts = [f'<svg class="chart" viewBox="0 0 {width} {height}" role="group" '
             f'aria-label="{escape(title)}" xmlns="http://www.w3.org/2000/svg">']
    for i in range(5):  # gridlines with labelled values
        value = top * i / 4
        y = upper + plot_h - value * scale
        parts.append(f'<line x1="{left}" x2="{width - right}" y1="{y:.1f}" y2="{y:.1f}" '
                     f'class="grid"/><text x="{left - 6}" y="{y + 4:.1f}" class="axis" '
                     f'text-anchor="end">{escape(_fmt(value, unit))}</text>')
    label_every = max(1, len(buckets) // 12)
    for index, (start, end, values) in enumerate(buckets):
        x = left + index * bar_w
        y = upper + plot_h
        when = _when(start, end)
        for name in series:
            value = values.get(name, 0)
            if not value:
                continue
            h = float(value) * scale
            y -= h
            label = gettext("other (the rest, together)") if name == OTHER else \
                labels.get(name, name)
            tip = f"{label}: {_fmt(value, unit)} ({when})"
            rect = (f'<rect x="{x + 1:.1f}" y="{y:.1f}" width="{max(bar_w - 2, 1):.1f}" '
                    f'height="{h:.1f}" fill="{colour[name]}"><title>{escape(tip)}</title></rect>')
            href = link(start, end, name)
            parts.append(f'<a href="{escape(href)}" tabindex="-1">{rect}</a>' if href else rect)
        if index % label_every == 0:
            parts.append(f'<text x="{x + bar_w / 2:.1f}" y="{height - lower + 14}" '
                         f'class="axis" text-anchor="middle">{escape(_tick(start, end))}</text>')
    parts.append("</svg>")
    legend = "".join(f'<span><i style="background:{colour[name]}"></i>'
                     f'{escape(labels.get(name, name))}</span>' for name in series)
    return mark_safe(f'<figure class="chart-box">{caption}{"".join(parts)}'
                     f'<div class="legend">{legend}</div></figure>')


def _series_colours(series, given):
    """A colour per series. Each name has its own place in the palette (a checksum of the
    name, not Python's per-process hash), so gpt-4o keeps its colour from one view to the
    next; when two names meet there, the smaller series takes the next free colour."""
    colour, taken = {}, set()
    for name in series:
        if name in given:
            colour[name] = given[name]
        elif name == OTHER:
            colour[name] = OTHER_COLOUR
        else:
            start = zlib.crc32(name.encode())
            free = [PALETTE[(start + step) % len(PALETTE)] for step in range(len(PALETTE))]
            colour[name] = next((c for c in free if c not in taken), free[0])
        taken.add(colour[name])
    return colour


def _nice_top(value, whole=False):
    """Round the axis up so its four steps are round numbers (1, 2, 2.5 or 5 × 10^n); for
    counts (`whole`) whole numbers too, or a top of 1 would be labelled 0, 0, 0, 1, 1."""
    if value <= 0:
        return 0.0
    step = value / 4
    magnitude = 10 ** math.floor(math.log10(step))
    for factor in (1, 2, 2.5, 5, 10):
        candidate = factor * magnitude
        if whole and candidate != round(candidate):
            continue
        if step <= candidate:
            return 4 * candidate
    return value


def _fmt(value, unit):
    value = Decimal(str(value))
    if unit == "USD":
        return units.money(value)  # as the list, the figures and the detail show costs
    return f"{value:,.0f}"


def _tick(start, end):
    local = timezone.localtime(start)
    return local.strftime("%m-%d") if end - start >= timedelta(days=1) else local.strftime("%H:%M")


def _when(start, end):
    if end - start >= timedelta(days=1):
        return f"{timezone.localtime(start):%Y-%m-%d}"
    return f"{timezone.localtime(start):%Y-%m-%d %H:%M} – {timezone.localtime(end):%H:%M}"


# What a link to the list behind a bar leaves out of the chart's query: its own time.
_LINK_SKIPS = ("cursor", "start_time", "end_time", "range")


def _list_link(kind_slug, params, start, end, extra, window_start=None):
    """The list behind a bar: its bucket (never before the window) and its series."""
    if window_start is not None and start < window_start:
        start = window_start
    query = {k: v for k, v in params.items() if k not in _LINK_SKIPS}
    query.update(start_time=_local(start), end_time=_local(end), **extra)
    return f"/logs/{kind_slug}/?{urlencode(query)}"


def _list_links(kind_slug, params, field, window_start=None):
    """link(start, end, series) -> _list_link(…, {field: series}) as it writes it, for every
    segment of one chart: the query's other parameters encoded once, each bucket's times and
    each series' name once (a 90-day chart has hundreds of segments, each a link)."""
    kept = {k: v for k, v in params.items() if k not in _LINK_SKIPS}
    if field in kept:  # the series' parameter keeps its place among the others
        return lambda start, end, name: _list_link(kind_slug, params, start, end,
                                                   {field: name}, window_start)
    base = urlencode(kept)
    times, pairs = {}, {}

    def link(start, end, name):
        bucket = times.get((start, end))
        if bucket is None:
            shown = max(start, window_start) if window_start is not None else start
            bucket = times[start, end] = urlencode({"start_time": _local(shown),
                                                    "end_time": _local(end)})
        pair = pairs.get(name)
        if pair is None:
            pair = pairs[name] = urlencode({field: name})
        return f"/logs/{kind_slug}/?{base + '&' if base else ''}{bucket}&{pair}"

    return link


def _local(value):
    """As the From/To fields show times: the user's timezone, to the second."""
    return timezone.localtime(value).strftime("%Y-%m-%d %H:%M:%S")


def _series_totals(buckets):
    """{series: its sum over every bucket}."""
    totals = {}
    for _, _, values in buckets:
        for name, value in values.items():
            totals[name] = totals.get(name, 0) + value
    return totals


def _top(values, limit=7):
    """Keep the biggest series; fold the rest into "other" so the legend stays readable."""
    totals = _series_totals(values)
    keep = set(sorted(totals, key=totals.get, reverse=True)[:limit])
    folded = []
    for start, end, bucket in values:
        merged = {}
        for name, value in bucket.items():
            key = name if name in keep else OTHER
            merged[key] = merged.get(key, 0) + value
        folded.append((start, end, merged))
    return folded


# --- the charts of each tab -------------------------------------------------------------

# The panels' own parameter, beside the list's.
PANEL_PARAMETERS = ("top_by",)
# What the usage chart's data link (the buckets API) does not take: paging and the panels'.
CHART_DATA_SKIPS = ("top_by", "cursor", "page_size", "ordering")
MAX_EVENT_BUCKETS = 366


def usage_panels(user, params):
    """The usage figures (the stats endpoint's body, as `summary`), cost (or requests) per
    bucket by model, and the top spenders: the parameters parsed once, the figures, top
    tables and status split read together."""
    query = stats.parse(user, params, group_by="model", also=PANEL_PARAMETERS)
    measure = "cost" if "cost" in query.measures else "requests"
    top_by = params.get("top_by") or measure
    if top_by not in TOP_ORDERS or (top_by == "cost" and measure != "cost"):
        raise stats.StatsError("top_by", gettext("Use one of: {choices}.").format(
            choices=", ".join(TOP_ORDERS)))
    width = choose_width(query.start, query.end)
    buckets = stats.buckets(query, width)
    series = _top([
        (datetime.fromisoformat(b["start_time"]), datetime.fromisoformat(b["end_time"]),
         {r["model"] or gettext("(none)"): Decimal(str(r[measure])) for r in b["results"]})
        for b in buckets])
    to_list = _list_links("usage", params, "platform_model", window_start=query.start)
    chart = stacked_bars_svg(
        series, unit="USD" if measure == "cost" else "requests",
        title=USAGE_TITLES[measure, width == "1h"],
        link=lambda s, e, name: to_list(s, e, name) if name != OTHER else None,
        data_link="/api/v1/usage/buckets/?" + urlencode(
            [(k, v) for k, values in params.lists() if k not in CHART_DATA_SKIPS
             for v in values]
            + ([] if any(params.get(k) for k in ("range", "start_time", "end_time"))
               else [("range", registry["usage"].filterset.default_range)])
            + [("bucket_width", width), ("group_by", "model")]))
    groups = ("user", "api_key", "model")
    if access_for(user, registry["usage"]).can_view_all:  # staff: every organization's rows
        groups += ("organization",)
    # The figures ("": no group), the top tables and the status split read the same rows:
    # together, in one pass each; only each table's first ten are presented.
    answers = stats.totals_by(query, ("", *groups, "status"), order=top_by, first=TOP_ROWS)
    top = {group: answers[group] for group in groups}
    names = _api_key_names(user, [row["api_key"] for row in top["api_key"]],
                           query.start, query.end)
    for row in top["api_key"]:  # the table shows keys by name: so does the panel
        row["api_key_name"] = names.get(row["api_key"], "")
    if "organization" in top:
        names = _organization_names([row["organization"] for row in top["organization"]])
        for row in top["organization"]:
            row["organization_name"] = names.get(row["organization"], "")
    status = {r["status"]: r["requests"] for r in answers["status"]}
    requests = sum(status.values())
    latest = stats.latest_figures(query)  # p95 and rpm/tpm: one read of the newest calls
    return {
        "summary": stats.usage_figures(query, answers[""][0], latest["rates"]),
        "chart": chart,
        "top": top,
        "measure": measure,
        "top_by": top_by,
        "error_rate": (status.get("error", 0) * 100 / requests) if requests else 0,
        "p95_latency_ms": latest["p95_latency_ms"],
        "p95_sampled": latest["p95_sampled"],
        "p95_sample": stats.LATEST_SAMPLE,
        "window": (query.start, query.end),
    }


def _api_key_names(user, key_ids, start, end):
    """{api_key_id: the name its newest call in the window carried} (a key may be renamed;
    the id stays; the window's edges spare the seek every other partition): one index seek
    per key, among the rows this viewer may see (a member's key id may also appear on
    someone else's rows, under a name that is not theirs to read); the seeks in one
    statement (UNION ALL) where the database takes a LIMIT in each part."""
    from logcenter.models import UsageRecord

    visible = access_for(user, registry["usage"]).scope(UsageRecord.objects.filter(
        occurred_at__gte=start, occurred_at__lte=end))
    seeks = [visible.filter(api_key_id=key_id).order_by("-occurred_at")
             .values_list("api_key_id", "api_key_name")[:1] for key_id in key_ids if key_id]
    if len(seeks) > 1 and connection.features.supports_slicing_ordering_in_compound:
        seeks = [seeks[0].union(*seeks[1:], all=True)]
    return {key_id: name or "" for seek in seeks for key_id, name in seek}


def _organization_names(public_ids):
    """{organization public id: its name}, in one query."""
    from accounts.models import Organization

    return dict(Organization.objects.filter(public_id__in=[i for i in public_ids if i])
                .values_list("public_id", "name"))


def event_panels(kind_slug, user, params):
    """The kind's EventChart (its registry entry): its events over time, stacked by the
    chart's field (auth: failures and lockouts; system: events by level)."""
    kind = registry[kind_slug]
    chart = kind.charts
    filterset = LogQuery.parse(kind, user, params, also=PANEL_PARAMETERS).filterset
    start, _, _ = filterset.time_window
    end = min(filterset.form.cleaned_data.get("end_time") or timezone.now(), timezone.now())
    start = start or end - timedelta(days=7)
    width = choose_width(start, end)
    if end - start > timedelta(days=MAX_EVENT_BUCKETS):  # as the usage buckets are bounded
        raise stats.StatsError("start_time", gettext(
            "Charts cover at most {days} days: narrow the range.").format(
                days=MAX_EVENT_BUCKETS))
    trunc = (TruncHour if width == "1h" else TruncDay)("occurred_at",
                                                       tzinfo=timezone.get_current_timezone())
    queryset = filterset.qs
    field, title, colours = chart.field, chart.title, chart.colours
    if chart.only:
        queryset = queryset.filter(**{f"{field}__in": list(chart.only)})
    counts = {}
    for row in (queryset.annotate(lc_bucket=trunc).order_by()
                .values("lc_bucket", field).annotate(n=Count("id"))):
        counts.setdefault(row["lc_bucket"], {})[row[field]] = row["n"]
    step = timedelta(hours=1) if width == "1h" else timedelta(days=1)
    first = timezone.localtime(start).replace(minute=0, second=0, microsecond=0)
    if width == "1d":
        first = first.replace(hour=0)
    series, cursor = [], first
    while cursor < end:
        nxt = cursor + step
        series.append((cursor, nxt, counts.get(cursor, {})))
        cursor = nxt
    return {"chart": stacked_bars_svg(
        series, unit="events",
        title=(gettext("{title} per hour") if width == "1h"
               else gettext("{title} per day")).format(title=title),
        colours=colours,
        labels={value: str(label) for value, label in
                kind.model._meta.get_field(field).flatchoices},
        link=_list_links(kind_slug, params, field, window_start=start),
        data_link=_list_link(kind_slug, params, start, end,
                             {field: ",".join(chart.only)} if chart.only else {}))}
