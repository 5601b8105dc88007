"""Server-drawn SVG charts."""

import re
from datetime import timedelta

import pytest
from django.utils import timezone

from logcenter.analytics.charts import OTHER, stacked_bars_svg


def _axis_labels(svg):
    return re.findall(r'class="axis" text-anchor="end">([^<]*)</text>', svg)


def _chart(largest, unit):
    start = timezone.now().replace(minute=0, second=0, microsecond=0)
    buckets = [(start, start + timedelta(hours=1), {"error": largest}),
               (start + timedelta(hours=1), start + timedelta(hours=2), {"error": 0})]
    return stacked_bars_svg(buckets, unit=unit, title="Events", link=lambda *_: "#")


@pytest.mark.parametrize("largest", [1, 2, 3, 5, 7, 10, 13, 999])
def test_count_axes_step_by_whole_numbers(largest):
    labels = [int(label.replace(",", "")) for label in _axis_labels(_chart(largest, "events"))]
    assert labels == sorted(set(labels)), labels  # five distinct, rising labels
    assert labels[0] == 0 and labels[-1] >= largest
    assert len({b - a for a, b in zip(labels, labels[1:])}) == 1  # evenly spaced


def test_cost_axes_read_as_costs_read_everywhere():
    labels = _axis_labels(_chart(1, "USD"))
    assert labels == ["$0.0000", "$0.2500", "$0.5000", "$0.7500", "$1.0000"]


def _buckets(*values):
    start = timezone.now().replace(minute=0, second=0, microsecond=0)
    return [(start + timedelta(hours=i), start + timedelta(hours=i + 1), v)
            for i, v in enumerate(values)]


def _svg(buckets, unit="USD", **kwargs):
    return stacked_bars_svg(buckets, unit=unit, title="Cost", link=lambda s, e, n: f"/{n}",
                            **kwargs)


def _legend(svg):
    return re.findall(r'<span><i style="background:(#\w+)"></i>([^<]*)</span>', svg)


def test_the_rest_of_the_models_is_not_a_link_to_all_of_them():
    svg = stacked_bars_svg(_buckets({"gpt-4o": 2, OTHER: 1}), unit="USD", title="Cost",
                           link=lambda s, e, n: None if n == OTHER else f"/{n}")
    assert '<a href="/gpt-4o" tabindex="-1">' in svg
    other = re.search(r"(<a [^>]*>)?<rect [^>]*><title>other[^<]*</title>", svg)
    assert other and other.group(1) is None
    assert "the rest, together" in other.group(0)


@pytest.mark.parametrize("unit, words", [("USD", "No cost"), ("requests", "No requests"),
                                         ("events", "No events")])
def test_a_chart_with_nothing_to_draw_says_so(unit, words):
    svg = _svg(_buckets({"gpt-4o": 0}, {}), unit=unit)
    assert f"{words} in this window." in svg
    assert "<svg" not in svg and _axis_labels(svg) == []


def test_a_series_keeps_its_colour_from_one_view_to_the_next():
    one = dict((name, c) for c, name in _legend(_svg(_buckets({"gpt-4o": 5, "qwen-max": 1}))))
    two = dict((name, c) for c, name in _legend(_svg(_buckets(
        {"gpt-4o": 1, "claude-haiku": 9, "gemini": 4, OTHER: 2}))))
    assert one["gpt-4o"] == two["gpt-4o"]
    assert len(set(two.values())) == len(two)  # distinct within one chart
    assert two[OTHER] == "#98a2b3"


def test_the_legend_lists_the_biggest_first_and_the_rest_last():
    svg = _svg(_buckets({"small": 1, OTHER: 50, "big": 10}, {"middle": 5, "small": 1}))
    assert [name for _, name in _legend(svg)] == ["big", "middle", "small", "other"]


def test_given_colours_keep_their_own_order():
    svg = _svg(_buckets({"error": 9, "info": 1}), unit="events",
               colours={"info": "#2e90fa", "warning": "#f79009", "error": "#d92d20"})
    assert _legend(svg) == [("#2e90fa", "info"), ("#d92d20", "error")]


@pytest.mark.parametrize("query, window_start_hours", [
    ("range=7d&user=ana&user=ben&ordering=-cost&q=a%26b", None),
    ("range=24h&status=error&cursor=abc", 30),  # a bucket before the window starts at it
    ("platform_model=o3&range=7d", None),  # the series' own filter already in the query
    ("", None),
])
def test_a_charts_links_are_those_of_the_list_behind_each_bar(query, window_start_hours):
    """Each segment's link, its query encoded once per chart: the same address as the list
    behind the bar (_list_link), character for character."""
    from django.http import QueryDict

    from logcenter.analytics.charts import _list_link, _list_links

    params = QueryDict(query)
    now = timezone.now().replace(minute=0, second=0, microsecond=0)
    window_start = now - timedelta(hours=window_start_hours) if window_start_hours else None
    links = _list_links("usage", params, "platform_model", window_start=window_start)
    for hours in (48, 36, 1):
        start, end = now - timedelta(hours=hours), now - timedelta(hours=hours - 1)
        for name in ("gpt-4o", "claude & co"):
            assert links(start, end, name) == _list_link(
                "usage", params, start, end, {"platform_model": name}, window_start)
