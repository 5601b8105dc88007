"""Keyset pagination: every sort walks the whole set forwards and back without gaps."""

from decimal import Decimal

import pytest

from logcenter import selectors
from logcenter.pagination import Cursor
from logcenter.registry import registry

pytestmark = pytest.mark.django_db


def walk(user, params):
    pages, cursor = [], None
    while True:
        query = dict(params, page_size="4", **({"cursor": cursor} if cursor else {}))
        listing = selectors.log_list(registry["usage"], user, query)
        pages.append(listing.page)
        if not listing.page.has_next:
            return pages
        cursor = listing.page.next_cursor.encode()


@pytest.mark.parametrize("ordering", ["-occurred_at", "occurred_at", "-cost", "cost",
                                      "-total_tokens", "latency_ms"])
def test_walking_all_pages_yields_every_row_once_in_order(staff, factories, ordering):
    # Ties on the sort key are broken by id, so equal costs still page correctly.
    rows = [factories["usage"](cost=Decimal(i % 3), total_tokens=i % 4, latency_ms=i % 5)
            for i in range(11)]
    pages = walk(staff, {"ordering": ordering})
    seen = [row.pk for page in pages for row in page.rows]
    key = ordering.lstrip("-")
    expected = sorted(rows, key=lambda r: (getattr(r, key), r.pk),
                      reverse=ordering.startswith("-"))
    assert seen == [r.pk for r in expected]
    assert [len(p.rows) for p in pages] == [4, 4, 3]
    assert not pages[0].has_previous and pages[1].has_previous

    # and back again from the last page
    back = selectors.log_list(registry["usage"], staff, {
        "ordering": ordering, "page_size": "4", "cursor": pages[2].prev_cursor.encode()})
    assert [r.pk for r in back.page.rows] == [r.pk for r in pages[1].rows]
    assert back.page.has_next and back.page.has_previous


def test_cursor_for_another_sort_is_rejected(staff, factories):
    factories["usage"].create_batch(3)
    first = selectors.log_list(registry["usage"], staff, {"page_size": "1"})
    token = first.page.next_cursor.encode()
    with pytest.raises(selectors.InvalidLogQuery) as info:
        selectors.log_list(registry["usage"], staff, {"ordering": "-cost", "cursor": token})
    assert "another sort order" in info.value.errors["cursor"][0]["message"]


def test_cursor_round_trip():
    from datetime import datetime, timezone

    from logcenter.models import UsageRecord

    when = datetime(2026, 1, 2, 3, 4, 5, 678000, tzinfo=timezone.utc)
    cursor = Cursor("-occurred_at", when, 42, "next")
    assert Cursor.decode(cursor.encode(), "-occurred_at", UsageRecord) == cursor
    cost = Cursor("cost", Decimal("0.00012300"), 7, "prev")
    assert Cursor.decode(cost.encode(), "cost", UsageRecord) == cost


def test_total_is_capped(staff, factories, settings):
    settings.LOGCENTER = {**settings.LOGCENTER, "COUNT_CAP": 5}
    factories["system"].create_batch(7)
    listing = selectors.log_list(registry["system"], staff, {})
    assert listing.estimated_total() == (5, True)
    assert listing.approximate_total() >= 6  # the planner's guess, never below the cap


def test_a_capped_total_is_labelled_with_the_planners_estimate(staff, factories, settings,
                                                               staff_client, api_client):
    settings.LOGCENTER = {**settings.LOGCENTER, "COUNT_CAP": 5}
    factories["system"].create_batch(7)
    body = api_client.get("/api/v1/system-events/").json()
    assert body["estimated_total"] == 5 and body["estimated_total_capped"] is True
    assert isinstance(body["approximate_total"], int)
    page = staff_client.get("/logs/system/").content.decode()
    assert "5+ matching rows" in page and "estimated)" in page
    settings.LOGCENTER = {**settings.LOGCENTER, "COUNT_CAP": 50}
    assert api_client.get("/api/v1/system-events/").json()["approximate_total"] is None
