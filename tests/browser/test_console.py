"""The console in a real browser: sign in, tabs, filter, sort, detail."""

import re

import pytest

from logcenter.core.registry import registry
from tests.factories import FACTORIES, StaffFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True),
              pytest.mark.xdist_group("browser")]


def sign_in(page, live_server, username, password):
    page.goto(f"{live_server.url}/logs/usage/")
    page.fill("#id_username", username)
    page.fill("#id_password", password)
    page.click("button[type=submit]")
    page.wait_for_url(re.compile(r"^[^?]*/logs/usage/"))


def table_rows(page):
    return page.locator("table#log-rows tbody tr:not(:has(td.empty))")


def test_console_end_to_end(page, live_server, screenshot):
    StaffFactory(username="browser-admin")
    for slug, factory in FACTORIES.items():
        factory.create_batch(4)
    FACTORIES["usage"].create_batch(3, platform_model="qwen-max")
    for cost in ("0.01", "9.5", "2.25"):
        FACTORIES["usage"](cost=cost, platform_model="priced")

    sign_in(page, live_server, "browser-admin", "correct-horse-battery")

    for label, slug in ((kind.label, kind.slug) for kind in registry):
        page.click(f"nav.tabs >> text={label}")
        page.wait_for_url(re.compile(rf"/logs/{slug}/"))
        assert table_rows(page).count() >= 4, f"{slug} shows rows"
        assert page.locator("a.tab.active").inner_text() == label
        screenshot(f"tab-{slug}")

    # Filter: fewer rows, and the filter is kept in the URL.
    page.click("nav.tabs >> text=Usage")
    page.wait_for_selector("#panels svg.chart")  # the figures and chart load beside the rows
    assert page.locator("#usage-summary").is_visible()
    everything = table_rows(page).count()
    page.fill("#id_platform_model", "qwen-max")
    page.click("text=Apply filters")
    page.wait_for_url(re.compile(r"platform_model=qwen-max"))
    page.wait_for_function("document.querySelectorAll('table#log-rows tbody tr').length === 3")
    assert table_rows(page).count() == 3 < everything
    screenshot("usage-filtered")

    # Sort by cost: descending costs.
    page.goto(f"{live_server.url}/logs/usage/?platform_model=priced")
    page.click("th.col-cost a")
    page.wait_for_url(re.compile(r"ordering=-cost"))
    costs = [float(c.lstrip("$")) for c in page.locator("td:nth-child(8)").all_inner_texts()]
    assert costs == sorted(costs, reverse=True) and costs[0] == 9.5

    # Detail page from the first row.
    page.locator("table#log-rows tbody tr td a").first.click()
    page.wait_for_url(re.compile(r"/logs/usage/[0-9a-f-]{36}/"))
    assert page.locator("h2", has_text="Usage & billing").is_visible()
    assert page.locator("h2", has_text="Model route").is_visible()
    screenshot("usage-detail")


def test_bad_filter_shows_a_form_error(page, live_server):
    StaffFactory(username="browser-admin2")
    sign_in(page, live_server, "browser-admin2", "correct-horse-battery")
    page.goto(f"{live_server.url}/logs/usage/?cost_min=5&cost_max=1")
    assert page.locator(".form-error").is_visible()
    assert "cost_max" in page.locator(".form-error").inner_text()
