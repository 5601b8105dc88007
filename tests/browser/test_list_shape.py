"""The list page's shape in a real browser: rows first at every size and in every language,
nothing moves when the figures arrive, chips add and remove filters, Back and Forward
restore the filter fields with their results, and the phone's menu works by keyboard."""

import re

import pytest
from playwright.sync_api import expect

from logcenter.core.registry import registry
from tests.browser.conftest import ARTIFACTS
from tests.browser.test_console import sign_in, table_rows
from tests.factories import FACTORIES, StaffFactory, UsageRecordFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True),
              pytest.mark.xdist_group("browser")]

PASSWORD = "correct-horse-battery"
PAGE_OVERFLOW = "document.documentElement.scrollWidth - window.innerWidth"
SIZES = ((1280, 800), (1920, 1080), (390, 844))
# The browser's language; the console answers in the matching one (lang attribute).
LANGUAGES = {"en": ("en-US", "en"), "zh-hans": ("zh-CN", "zh-hans"),
             "zh-hant": ("zh-TW", "zh-hant")}
TABS = [kind.slug for kind in registry if kind.slug in ("audit", "usage", "auth", "system")]


@pytest.fixture
def context_for(browser):
    contexts = []

    def make(locale="en-US", width=1280, height=800):
        context = browser.new_context(locale=locale, viewport={"width": width, "height": height})
        contexts.append(context)
        page = context.new_page()
        page.set_default_timeout(10_000)
        return page

    yield make
    for context in contexts:
        for page in context.pages:
            try:
                page.wait_for_load_state("networkidle", timeout=5_000)
            except Exception:  # closed below all the same
                pass
        context.close()


def panels_loaded(page):
    """The figures and charts have arrived (or the tab has none)."""
    expect(page.locator("#panels:has-text('…'), #figures:has-text('…')")).to_have_count(0)


def first_row_box(page):
    return table_rows(page).first.evaluate(
        "tr => { const r = tr.getBoundingClientRect(); return [r.top, r.bottom]; }")


@pytest.mark.parametrize("language", list(LANGUAGES))
def test_the_first_row_is_in_view_without_scrolling(context_for, live_server, language):
    StaffFactory(username=f"shape-{language}")
    for slug in TABS:
        FACTORIES[slug].create_batch(3)
    locale, lang = LANGUAGES[language]
    page = context_for(locale)
    sign_in(page, live_server, f"shape-{language}", PASSWORD)
    for width, height in SIZES:
        page.set_viewport_size({"width": width, "height": height})
        for slug in TABS:
            page.goto(f"{live_server.url}/logs/{slug}/")
            expect(page.locator("html")).to_have_attribute("lang", lang)
            panels_loaded(page)
            top, bottom = first_row_box(page)
            assert 0 < top and bottom <= height, (slug, width, height, top, bottom)
            assert page.evaluate("window.scrollY") == 0
            assert page.evaluate(PAGE_OVERFLOW) <= 0, (slug, width)
        if width == 390:
            page.screenshot(path=str(ARTIFACTS / f"shape-{slug}-{language}-{width}.png"))


@pytest.mark.parametrize("slug", ["usage", "auth"])
def test_the_rows_do_not_move_when_the_panels_arrive(context_for, live_server, slug):
    StaffFactory(username=f"still-{slug}")
    FACTORIES[slug].create_batch(4)
    page = context_for()
    sign_in(page, live_server, f"still-{slug}", PASSWORD)

    held = []
    page.route(re.compile(r"/logs/\w+/panels/"), lambda route: held.append(route))  # held
    page.goto(f"{live_server.url}/logs/{slug}/")
    while not held:  # htmx asks for the panels once the page has loaded
        page.wait_for_timeout(20)
    expect(page.locator("#panels")).to_contain_text("…")  # not arrived yet
    before = first_row_box(page)
    table_top = page.locator("table#log-rows").evaluate("t => t.getBoundingClientRect().top")

    held[0].continue_()
    expect(page.locator("#panels svg.chart, #panels .chart-empty").first).to_be_visible()
    if slug == "usage":
        expect(page.locator("#usage-summary")).to_be_visible()
    assert first_row_box(page) == before
    assert page.locator("table#log-rows").evaluate(
        "t => t.getBoundingClientRect().top") == table_top


def test_chips_add_and_remove_filters(context_for, live_server):
    StaffFactory(username="chips-admin")
    UsageRecordFactory.create_batch(2, platform_model="model-a", upstream_name="up-a",
                                    cost="0.5")
    UsageRecordFactory.create_batch(3, platform_model="model-b", upstream_name="up-b",
                                    cost="0.00000042")
    page = context_for()
    sign_in(page, live_server, "chips-admin", PASSWORD)
    expect(table_rows(page)).to_have_count(5)
    # The default window is a chip too, which cannot be removed (only changed).
    expect(page.locator("#filter-chips li")).to_have_count(1)
    expect(page.locator("#filter-chips li .remove")).to_have_count(0)
    # A nonzero cost never reads $0.0000.
    expect(page.locator("table#log-rows td.num", has_text="$0.00000042").first).to_be_visible()

    # A value in a row filters by it.
    page.locator("table#log-rows a.filter-link", has_text="model-a").first.click()
    page.wait_for_url(re.compile(r"platform_model=model-a"))
    expect(table_rows(page)).to_have_count(2)
    chip = page.locator("#filter-chips li[data-name=platform_model]")
    expect(chip).to_have_text(re.compile(r"Platform model:\s*model-a\s*×"))
    # Another value adds to it; a sort is a chip too.
    page.locator("table#log-rows a.filter-link", has_text="up-a").first.click()
    page.wait_for_url(re.compile(r"platform_model=model-a.*upstream_name=up-a"))
    page.locator("th.col-cost a").click()
    page.wait_for_url(re.compile(r"ordering=-cost"))
    expect(page.locator("#filter-chips li[data-name=ordering]")).to_contain_text("Sort")

    # Removing a chip: the same address without it.
    page.locator("#filter-chips li[data-name=platform_model] .remove").click()
    page.wait_for_url(lambda url: "platform_model" not in url and "upstream_name=up-a" in url
                      and "ordering=-cost" in url)
    expect(table_rows(page)).to_have_count(2)
    page.locator("#filter-chips li[data-name=upstream_name] .remove").click()
    page.wait_for_url(lambda url: "upstream_name" not in url)
    expect(table_rows(page)).to_have_count(5)
    page.locator("#filter-chips li[data-name=ordering] .remove").click()
    page.wait_for_url(lambda url: "ordering" not in url)

    # A time preset is a chip; removing it goes back to the default window.
    page.locator("#range-presets a", has_text="7 d").click()
    page.wait_for_url(re.compile(r"range=7d"))
    expect(page.locator("#filter-chips li[data-name=range]")).to_contain_text("Last 7 days")
    page.locator("#filter-chips li[data-name=range] .remove").click()
    page.wait_for_url(lambda url: "range" not in url)

    # The exact window: the preset as fixed times, the same rows.
    page.locator("#exact-window").click()
    page.wait_for_url(re.compile(r"start_time=.*end_time="))
    expect(table_rows(page)).to_have_count(5)
    expect(page.locator("#filter-chips li[data-name=start_time]")).to_be_visible()

    # A detail page's values filter the list too.
    table_rows(page).first.locator("td a").first.click()
    page.wait_for_url(re.compile(r"/logs/usage/[0-9a-f-]{36}/"))
    model = page.locator("dd.field-platform_model a.filter-link")
    name = model.inner_text()
    model.click()
    page.wait_for_url(re.compile(rf"/logs/usage/\?platform_model={name}"))
    expect(table_rows(page)).to_have_count(2 if name == "model-a" else 3)


def test_back_and_forward_restore_the_fields_and_the_results(context_for, live_server):
    StaffFactory(username="history-admin")
    UsageRecordFactory.create_batch(2, platform_model="model-a")
    UsageRecordFactory.create_batch(3, platform_model="model-b")
    page = context_for()
    sign_in(page, live_server, "history-admin", PASSWORD)
    expect(table_rows(page)).to_have_count(5)

    for model, count in (("model-a", 2), ("model-b", 3)):
        page.fill("#id_platform_model", model)
        page.click("text=Apply filters")
        page.wait_for_url(re.compile(rf"platform_model={model}"))
        expect(table_rows(page)).to_have_count(count)
    # A filter under "More filters" opens it (and it stays open through history).
    page.click("#more-filters summary")
    page.select_option("#id_status", "success")
    page.click("text=Apply filters")
    page.wait_for_url(re.compile(r"status=success"))

    page.go_back()
    page.wait_for_url(lambda url: "status" not in url and "platform_model=model-b" in url)
    expect(page.locator("#id_platform_model")).to_have_value("model-b")
    expect(table_rows(page)).to_have_count(3)
    page.go_back()
    page.wait_for_url(re.compile(r"platform_model=model-a"))
    expect(page.locator("#id_platform_model")).to_have_value("model-a")
    expect(table_rows(page)).to_have_count(2)
    expect(page.locator("#filter-chips li[data-name=platform_model]")).to_contain_text("model-a")
    page.go_back()
    page.wait_for_url(lambda url: "platform_model" not in url)
    expect(page.locator("#id_platform_model")).to_have_value("")
    expect(table_rows(page)).to_have_count(5)
    page.go_forward()
    page.wait_for_url(re.compile(r"platform_model=model-a"))
    expect(page.locator("#id_platform_model")).to_have_value("model-a")
    expect(table_rows(page)).to_have_count(2)
    # A reload of a pushed address is the whole page, not the results alone.
    page.reload()
    expect(page.locator("header.topbar")).to_be_visible()
    expect(page.locator("#id_platform_model")).to_have_value("model-a")


def test_the_phone_menu_and_the_skip_link_by_keyboard(context_for, live_server):
    StaffFactory(username="phone-admin")
    FACTORIES["auth"].create_batch(2)
    page = context_for(width=390, height=844)
    sign_in(page, live_server, "phone-admin", PASSWORD)
    page.goto(f"{live_server.url}/logs/auth/")
    tabs = page.locator("nav.tabs")
    expect(tabs).to_be_hidden()  # folded into the menu
    page.keyboard.press("Tab")
    skip = page.locator(".skip-link")
    expect(skip).to_be_focused()
    expect(skip).to_be_visible()
    page.keyboard.press("Tab")
    page.keyboard.press("Tab")
    expect(page.locator("#menu-toggle")).to_be_focused()
    page.keyboard.press("Enter")
    expect(page.locator("#menu-toggle")).to_have_attribute("aria-expanded", "true")
    expect(tabs).to_be_visible()
    page.keyboard.press("Tab")
    expect(page.locator("nav.tabs a").first).to_be_focused()
    page.keyboard.press("Escape")
    expect(tabs).to_be_hidden()
    expect(page.locator("#menu-toggle")).to_be_focused()
    # The skip link lands on the results.
    page.keyboard.press("Shift+Tab")
    page.keyboard.press("Shift+Tab")
    expect(skip).to_be_focused()
    page.keyboard.press("Enter")
    expect(page.locator("#results")).to_be_focused()
    # Tables scroll in their box, never the page; the chart's bars are not tab stops.
    assert page.evaluate(PAGE_OVERFLOW) <= 0
    panels_loaded(page)
    assert page.locator("#panels svg a").evaluate_all(
        "links => links.every(a => a.getAttribute('tabindex') === '-1')")
    expect(page.locator("#panels a.chart-data")).to_have_count(1)
