"""Server-drawn SVG charts."""

import re
from datetime import timedelta

import pytest
from django.utils import timezone

from logcenter.charts import stacked_bars_svg


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


def test_cost_axes_keep_cents():
    labels = _axis_labels(_chart(1, "USD"))
    assert labels == ["$0.00", "$0.2500", "$0.5000", "$0.7500", "$1.00"]
