"""Saved views in a real browser: a staff user filters the usage tab, picks columns with the
column chooser, saves the view with a name; the bare tab (its default) and `?view=<id>` show
the same filters in the fields and the same columns in the table's head, and the API's
`?view=<id>` answers the same rows with those columns."""

import re

import pytest
from playwright.sync_api import expect

from logcenter.models import SavedView
from tests.browser.conftest import ARTIFACTS, _wait_for_other_sessions_to_settle
from tests.browser.test_console import sign_in, table_rows
from tests.factories import StaffFactory, UsageRecordFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True),
              pytest.mark.xdist_group("browser")]

PASSWORD = "correct-horse-battery"
PAGE_OVERFLOW = "document.documentElement.scrollWidth - window.innerWidth"
# The columns ticked in the chooser, in its order: `occurred_at` is fixed (always first),
# `channel_id` is not one of the table's own columns.
CHOSEN = ["platform_model", "upstream_name", "cost", "channel_id"]
SHOWN = ["occurred_at", *CHOSEN]


def header(page):
    return page.locator("table#log-rows thead th").evaluate_all(
        "cells => cells.map(c => c.className.replace(/^col-/, ''))")


def see_the_view(page):
    """The fields hold the view's filters, the head its columns, the rows its matches."""
    expect(page.locator("#id_platform_model")).to_have_value("gpt-4o")
    expect(page.locator("#id_upstream_name")).to_have_value("azure")
    expect(table_rows(page)).to_have_count(2)
    assert header(page) == SHOWN
    for text in table_rows(page).all_inner_texts():
        assert "gpt-4o" in text and "azure" in text and "ch-7" in text


def test_a_saved_view_restores_filters_and_columns(page, live_server):
    StaffFactory(username="views-admin")
    UsageRecordFactory.create_batch(2, platform_model="gpt-4o", upstream_name="azure",
                                    channel_id="ch-7")
    UsageRecordFactory(platform_model="gpt-4o", upstream_name="openai")
    UsageRecordFactory.create_batch(3, platform_model="claude-3", upstream_name="anthropic")
    sign_in(page, live_server, "views-admin", PASSWORD)
    expect(table_rows(page)).to_have_count(6)

    # A filter from the bar, one from More filters, applied.
    page.fill("#id_platform_model", "gpt-4o")
    page.locator("#more-filters summary").click()
    page.fill("#id_upstream_name", "azure")
    page.locator("#filters button.primary").click()
    page.wait_for_url(re.compile(r"upstream_name=azure"))
    expect(table_rows(page)).to_have_count(2)

    # The column chooser: exactly the chosen columns ticked, shown at once.
    page.locator("#column-chooser summary").click()
    for box in page.locator("#column-chooser input[name=columns]:not([disabled])").all():
        box.set_checked(box.get_attribute("value") in CHOSEN)
    page.locator("#column-chooser button.primary").click()
    page.wait_for_url(re.compile(r"upstream_name=azure"))
    see_the_view(page)

    # Saved with a name, opening the tab with it.
    page.locator("#saved-views summary").click()
    page.locator("#save-view input[name=name]").fill("Azure GPT")
    page.locator("#save-view input[name=is_default]").check()
    page.locator("#save-view button.primary").click()
    page.wait_for_url(re.compile(r"\?view=\d+$"))
    view = SavedView.objects.get(name="Azure GPT")
    assert view.filters == {"platform_model": ["gpt-4o"], "upstream_name": ["azure"]}
    assert view.columns == SHOWN and view.is_default
    expect(page.locator("#saved-views summary")).to_have_text("View: Azure GPT")
    see_the_view(page)

    # The bare tab applies it (its default); so does its address in a fresh page.
    page.goto(f"{live_server.url}/logs/usage/")
    page.wait_for_url(re.compile(rf"/logs/usage/\?view={view.pk}$"))
    see_the_view(page)
    # The column chooser's own choice is not what restores it: forget that choice.
    page.locator("#column-chooser summary").click()
    page.locator("#column-chooser button[name=reset]").click()
    page.goto(f"{live_server.url}/logs/usage/?view={view.pk}")
    see_the_view(page)
    page.goto(f"{live_server.url}/logs/usage/?view=")
    expect(table_rows(page)).to_have_count(6)
    assert header(page) != SHOWN

    # The API, as the same signed-in user: the same rows, with the chosen columns.
    answer = page.request.get(f"{live_server.url}/api/v1/usage-records/?view={view.pk}")
    assert answer.status == 200, answer.text()
    results = answer.json()["results"]
    assert len(results) == 2
    shown_ids = {row["event_id"] for row in results}
    assert shown_ids == {str(r.event_id) for r in UsageRecordFactory._meta.model.objects.filter(
        platform_model="gpt-4o", upstream_name="azure")}
    for row in results:
        assert list(row) == ["kind", "event_id", *SHOWN]
        assert (row["platform_model"], row["upstream_name"], row["channel_id"]) == (
            "gpt-4o", "azure", "ch-7")


@pytest.mark.parametrize("width, height", [(1280, 800), (390, 844)])
def test_the_menus_open_as_panels_over_the_rows(browser, live_server, width, height):
    """Each menu opens a panel over the page, inside the window at a desktop's and a
    phone's size, without moving the rows or widening the page (screenshots in
    test-artifacts/)."""
    owner = StaffFactory(username=f"menus-{width}")
    UsageRecordFactory.create_batch(3)
    SavedView.objects.create(owner=owner, kind="usage", name="Errors of the week",
                             filters={"status": ["error"]}, is_default=False)
    SavedView.objects.create(owner=owner, kind="usage", name="GPT-4o by Azure, all columns",
                             filters={"platform_model": ["gpt-4o"]}, columns=["occurred_at"])
    context = browser.new_context(viewport={"width": width, "height": height})
    page = context.new_page()
    page.set_default_timeout(10_000)
    try:
        sign_in(page, live_server, owner.username, PASSWORD)
        page.wait_for_load_state("networkidle")
        ARTIFACTS.mkdir(exist_ok=True)
        for menu in ("saved-views", "column-chooser"):
            row = table_rows(page).first.bounding_box()
            page.locator(f"#{menu} > summary").click()
            body = page.locator(f"#{menu} .menu-body")
            expect(body).to_be_visible()
            box = body.bounding_box()
            assert body.evaluate("e => getComputedStyle(e).position") == "absolute"
            assert 0 <= box["x"] and box["x"] + box["width"] <= width, (menu, box)
            assert box["width"] >= min(280, width - 24) and box["height"] <= height
            assert page.evaluate(PAGE_OVERFLOW) <= 0
            assert table_rows(page).first.bounding_box() == row  # over the rows, not above
            # Its first and last controls are in the panel, not cut off by its edges.
            for control in (body.locator("input:not([type=hidden])").first,
                            body.locator("button").last):
                inner = control.bounding_box()
                assert box["y"] <= inner["y"] and inner["y"] + inner["height"] <= (
                    box["y"] + box["height"]), (menu, control)
                assert box["x"] <= inner["x"] and inner["x"] + inner["width"] <= (
                    box["x"] + box["width"]), (menu, control)
            assert body.evaluate("e => e.scrollWidth <= e.clientWidth")  # nothing sideways
            page.screenshot(path=str(ARTIFACTS / f"menu-{menu}-{width}x{height}.png"))
            page.locator(f"#{menu} > summary").click()
            expect(body).to_be_hidden()
    finally:
        page.wait_for_load_state("networkidle")
        context.close()
        _wait_for_other_sessions_to_settle()
