"""The Timeline page in a real browser: from a row's detail to everything of its request,
across the kinds, in English and Chinese, on a laptop and a phone."""

import re
from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from tests.browser.test_console import sign_in
from tests.factories import FACTORIES, StaffFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True),
              pytest.mark.xdist_group("browser")]

PASSWORD = "correct-horse-battery"


@pytest.mark.parametrize("language,width", [("en", 1280), ("zh-CN", 390)])
def test_from_a_detail_to_its_requests_timeline(page, live_server, screenshot, language,
                                                width):
    page.set_viewport_size({"width": width, "height": 800 if width > 500 else 844})
    page.set_extra_http_headers({"Accept-Language": language})
    StaffFactory(username=f"timeline-staff-{width}")
    now = timezone.now()
    call = FACTORIES["usage"](request_id="req-browser-1", status="error",
                              platform_model="gpt-4o", occurred_at=now)
    FACTORIES["auth"](request_id="req-browser-1", event="login.failed", result="failure",
                      occurred_at=now - timedelta(seconds=5))
    FACTORIES["audit"](request_id="req-browser-1", action="api_key.created",
                       occurred_at=now - timedelta(seconds=10))
    FACTORIES["system"](request_id="req-browser-1", source="upstream", event="timeout",
                        level="error", occurred_at=now - timedelta(seconds=15))
    sign_in(page, live_server, f"timeline-staff-{width}", PASSWORD)
    page.goto(f"{live_server.url}{call.get_absolute_url()}")
    page.locator("#related a.button").click()
    rows = page.locator("table.timeline-table tbody tr")
    expect(rows).to_have_count(4)
    expect(rows.nth(0)).to_contain_text("usage.chat")
    expect(rows.nth(3)).to_contain_text("upstream.timeout")
    screenshot(f"timeline-{language}-{width}")
    # Each row opens its detail page.
    rows.nth(1).locator("a").first.click()
    expect(page).to_have_url(re.compile(r"/logs/auth/[0-9a-f-]+/$"))
