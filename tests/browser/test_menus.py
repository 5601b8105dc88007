"""The list's two dropdowns (saved views, columns): one open at a time, Escape closes the
open one and gives the focus back to its button, a click outside closes it."""

import pytest
from playwright.sync_api import expect

from tests.browser.test_console import sign_in
from tests.factories import StaffFactory, UsageRecordFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True),
              pytest.mark.xdist_group("browser")]

PASSWORD = "correct-horse-battery"


def test_the_list_menus_close_each_other_on_escape_and_outside(page, live_server):
    StaffFactory(username="menus-admin")
    UsageRecordFactory()
    sign_in(page, live_server, "menus-admin", PASSWORD)
    views, columns = page.locator("#saved-views"), page.locator("#column-chooser")

    views.locator("summary").click()
    expect(views).to_have_attribute("open", "")
    columns.locator("summary").click()  # the other opens: the first closes
    expect(columns).to_have_attribute("open", "")
    expect(views).not_to_have_attribute("open", "")

    page.keyboard.press("Escape")
    expect(columns).not_to_have_attribute("open", "")
    expect(columns.locator("summary")).to_be_focused()

    views.locator("summary").click()
    expect(views).to_have_attribute("open", "")
    views.locator(".menu-body").first.click(position={"x": 2, "y": 2})  # inside: stays open
    expect(views).to_have_attribute("open", "")
    page.locator("h1").first.click()  # outside: closes
    expect(views).not_to_have_attribute("open", "")
    expect(columns).not_to_have_attribute("open", "")
