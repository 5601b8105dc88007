"""The console in Chinese, in a real browser: a zh-TW browser gets Traditional text on sign-in
and on the usage tab, the switcher changes the language, and neither script overflows the
page at 1280×800 (screenshots in test-artifacts/)."""

import pytest
from playwright.sync_api import expect

from tests.browser.test_console import sign_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True),
              pytest.mark.xdist_group("browser")]

PASSWORD = "correct-horse-battery"
PAGE_OVERFLOW = "document.documentElement.scrollWidth - window.innerWidth"


@pytest.fixture
def zh_tw_page(browser):
    context = browser.new_context(locale="zh-TW", viewport={"width": 1280, "height": 800})
    page = context.new_page()
    page.set_default_timeout(10_000)
    yield page
    try:
        page.wait_for_load_state("networkidle", timeout=5_000)
    except Exception:
        pass
    context.close()


def test_traditional_chinese_browser_and_the_switcher(zh_tw_page, live_server, factories):
    from tests.factories import StaffFactory

    page = zh_tw_page
    StaffFactory(username="lin")
    factories["usage"].create_batch(3, platform_model="gpt-4o", total_tokens=12345)

    page.goto(f"{live_server.url}/accounts/login/")
    expect(page.locator("h1")).to_have_text("登入 Logcenter")
    sign_in(page, live_server, "lin", PASSWORD)

    expect(page.locator("h1")).to_have_text("用量")
    expect(page).to_have_title("用量 · Logcenter")
    expect(page.locator("#filters button.primary")).to_have_text("套用篩選")
    expect(page.locator("#row-count")).to_contain_text("3 筆符合的紀錄")
    expect(page.locator("table#log-rows thead")).to_contain_text("平台模型")
    expect(page.locator(".tabs")).to_contain_text("稽核")
    page.wait_for_load_state("networkidle")
    assert page.evaluate(PAGE_OVERFLOW) <= 0
    page.screenshot(path=str(_artifacts() / "usage-zh-hant.png"))

    # The switcher: Simplified, saved for this user, on the same page.
    page.select_option("#language-switcher select", "zh-hans")
    page.wait_for_url("**/logs/usage/")
    expect(page.locator("#filters button.primary")).to_have_text("应用筛选")
    expect(page.locator(".tabs")).to_contain_text("审计")
    page.wait_for_load_state("networkidle")
    assert page.evaluate(PAGE_OVERFLOW) <= 0
    page.screenshot(path=str(_artifacts() / "usage-zh-hans.png"))

    # Back to the browser's language (Traditional).
    page.select_option("#language-switcher select", "")
    page.wait_for_url("**/logs/usage/")
    expect(page.locator("#filters button.primary")).to_have_text("套用篩選")


def _artifacts():
    from tests.browser.conftest import ARTIFACTS

    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS
