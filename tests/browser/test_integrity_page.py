"""The Integrity page in a real browser: each kind's seal, verifying one, and a broken one."""

import re

import pytest
from playwright.sync_api import expect

from logcenter.core.registry import registry
from logcenter.integrity import sealing
from tests.browser.test_console import sign_in
from tests.factories import FACTORIES, MemberFactory, StaffFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True),
              pytest.mark.xdist_group("browser")]

PASSWORD = "correct-horse-battery"


def test_an_administrator_sees_each_kind_sealed_and_verifies_one(page, live_server, screenshot):
    StaffFactory(username="integrity-admin")
    for factory in FACTORIES.values():
        factory.create_batch(3)
    sign_in(page, live_server, "integrity-admin", PASSWORD)  # a sign-in event too
    sealing.seal(settle=0, wait=5)
    FACTORIES["auth"]()  # stored after the seal

    page.click(".usermenu >> text=Integrity")
    page.wait_for_url(re.compile(r"/integrity/$"))
    rows = page.locator("#integrity-kinds tbody tr")
    expect(rows.locator("td:first-child")).to_have_text(
        [str(kind.label) for kind in registry])
    auth = page.locator("#integrity-kinds tr[data-kind=auth]")
    expect(auth).to_contain_text("1 block, up to row id")
    expect(page.locator("main")).to_contain_text("generated on first use")  # the demo's key
    expect(auth.locator("td.num")).to_have_text("1")  # awaiting the next seal
    expect(auth.locator("td.status")).to_have_text("—")

    auth.get_by_role("button", name="Verify now").click()
    page.wait_for_url(re.compile(r"/integrity/$"))
    expect(page.locator(".messages li.success")).to_contain_text("Verification started")
    auth = page.locator("#integrity-kinds tr[data-kind=auth]")
    expect(auth.locator(".badge")).to_have_text("valid")
    expect(auth.locator("td.status")).to_contain_text("1/1 digests valid, 4/4 rows valid")
    screenshot("integrity")


def test_a_member_has_no_integrity_page(page, live_server):
    MemberFactory(username="integrity-member")
    sign_in(page, live_server, "integrity-member", PASSWORD)
    expect(page.locator(".usermenu")).not_to_contain_text("Integrity")
    response = page.goto(f"{live_server.url}/integrity/")
    assert response.status == 403
