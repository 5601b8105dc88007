"""The console at a laptop's width: wide tables scroll inside their own box, the page never
does, nothing is cut off; and the retention page's deletion asks before it runs."""

import re

import pytest
from playwright.sync_api import expect

from logcenter.models import DeletionJob
from tests.browser.test_console import sign_in
from tests.factories import AuditEventFactory, StaffFactory, UsageRecordFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True),
              pytest.mark.xdist_group("browser")]

PASSWORD = "correct-horse-battery"

PAGE_OVERFLOW = "document.documentElement.scrollWidth - window.innerWidth"


def reachable_by_scrolling_its_box(page, selector):
    """The element lies in a box that scrolls sideways, and scrolling the box brings it
    wholly into the window."""
    element = page.locator(selector).first
    box = element.locator("xpath=ancestor::div[contains(@class, 'table-wrap')][1]")
    assert box.evaluate("b => getComputedStyle(b).overflowX") == "auto"
    element.scroll_into_view_if_needed()
    left, right = element.evaluate(
        "e => { const r = e.getBoundingClientRect(); return [r.left, r.right]; }")
    assert 0 <= left and right <= page.viewport_size["width"], (left, right)
    return box


def test_wide_tables_scroll_in_their_own_box_at_1024(page, live_server, screenshot):
    StaffFactory(username="layout-admin")
    UsageRecordFactory.create_batch(
        6, username="someone.with.a.long.name@example.com", api_key_name="slack-bot-production",
        platform_model="claude-3-5-sonnet-20241022", upstream_name="anthropic-bedrock-eu")
    page.set_viewport_size({"width": 1024, "height": 768})
    sign_in(page, live_server, "layout-admin", PASSWORD)
    expect(page.locator("#top-spenders")).to_be_visible()  # the panels have loaded

    assert page.evaluate(PAGE_OVERFLOW) <= 0, "the page itself is wider than the window"
    # The list is wider than the window: its last columns are there by scrolling its box.
    box = reachable_by_scrolling_its_box(page, "table#log-rows th.col-status")
    assert box.evaluate("b => b.scrollWidth > b.clientWidth && b.scrollLeft > 0")
    for name in ("latency_ms", "is_stream"):
        reachable_by_scrolling_its_box(page, f"table#log-rows th.col-{name}")
    # Each top-spenders table shows every column without scrolling, and none leaves the page.
    for header in page.locator("#top-spenders table.top thead th:last-child").all():
        right = header.evaluate("e => e.getBoundingClientRect().right")
        box_right = header.evaluate(
            "e => e.closest('.table-wrap').getBoundingClientRect().right")
        assert right <= box_right + 1 and box_right <= 1024
    page.locator("#top-spenders").scroll_into_view_if_needed()
    screenshot("layout-usage-1024")

    # Narrower still: the top-spenders tables stack, and the page still does not overflow.
    page.set_viewport_size({"width": 700, "height": 768})
    lefts = page.locator("#top-spenders .table-wrap").evaluate_all(
        "boxes => boxes.map(b => Math.round(b.getBoundingClientRect().left))")
    assert len(set(lefts)) == 1, lefts
    assert page.locator("#top-spenders").evaluate("e => e.scrollWidth <= e.clientWidth")


def test_audit_request_ids_are_whole_at_1400_and_reachable_at_1024(page, live_server,
                                                                   screenshot):
    StaffFactory(username="layout-auditor")
    AuditEventFactory.create_batch(3, resource_name="Preference: answers in formal English",
                                   actor_name="someone.with.a.long.name@example.com")
    page.set_viewport_size({"width": 1400, "height": 800})
    sign_in(page, live_server, "layout-auditor", PASSWORD)
    page.goto(f"{live_server.url}/logs/audit/")
    cells = page.locator("table#log-rows td.col-request", has_text="req_")
    expect(cells).to_have_count(3)
    expect(cells.first).to_have_text(re.compile(r"^req_[0-9a-f]{24}$"))
    clipped = cells.evaluate_all("tds => tds.filter(td => td.scrollWidth > td.clientWidth)"
                                 ".map(td => td.textContent)")
    assert clipped == []
    assert page.evaluate(PAGE_OVERFLOW) <= 0
    screenshot("layout-audit-1400")

    page.set_viewport_size({"width": 1024, "height": 768})
    assert page.evaluate(PAGE_OVERFLOW) <= 0
    reachable_by_scrolling_its_box(page, "table#log-rows th.col-request_id")


def test_billing_items_fit_their_card_on_the_detail_page(page, live_server, screenshot):
    StaffFactory(username="layout-finance")
    row = UsageRecordFactory(billing_items=[
        {"name": "input", "quantity": 3748, "unit_price": "0.000003", "amount": "0.01124400"},
        {"name": "output", "quantity": 1443, "unit_price": "0.000015", "amount": "0.02164500"}],
        metadata={"trace": 253238103})
    page.set_viewport_size({"width": 1400, "height": 900})
    sign_in(page, live_server, "layout-finance", PASSWORD)
    for width in (1400, 1024):
        page.set_viewport_size({"width": width, "height": 900})
        page.goto(f"{live_server.url}{row.get_absolute_url()}")
        items = page.locator("dd.field-billing_items table.kv-table")
        expect(items.locator("th")).to_have_text(
            ["Name", "Amount", "Quantity", "Unit price"])  # jsonb's key order
        # Every column is in view: the table is no wider than its card's content.
        assert items.evaluate("t => t.closest('dd').scrollWidth <= t.closest('dd').clientWidth")
        assert items.evaluate("t => t.getBoundingClientRect().width") > 300
        assert page.evaluate(PAGE_OVERFLOW) <= 0
    metadata = page.locator("section.card", has=page.locator("h2", has_text="Metadata"))
    expect(metadata.locator("dd")).to_have_text("253238103")
    page.locator("dd.field-billing_items").scroll_into_view_if_needed()
    screenshot("layout-usage-detail-1024")


def test_delete_history_asks_before_it_runs(page, live_server, screenshot):
    StaffFactory(username="layout-retention")
    sign_in(page, live_server, "layout-retention", PASSWORD)
    page.goto(f"{live_server.url}/retention/")
    expect(page.locator("#delete-history .help")).to_have_text("In your timezone (UTC).")
    page.select_option("#id_kind", "system")
    page.fill("#id_before", "2026-01-15 10:00")
    screenshot("layout-retention")

    asked = []
    page.once("dialog", lambda dialog: (asked.append(dialog.message), dialog.dismiss()))
    page.get_by_role("button", name="Delete older logs").click()
    expect(page.locator("#id_before")).to_have_value("2026-01-15 10:00")  # still here
    assert asked == ["Delete every System events log older than 2026-01-15 10:00 (UTC)? "
                     "This cannot be undone."]
    assert not DeletionJob.objects.exists()

    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Delete older logs").click()
    expect(page.locator(".messages li.success")).to_contain_text("Deletion started")
    job = DeletionJob.objects.get()
    assert job.kind == "system" and job.before.isoformat() == "2026-01-15T10:00:00+00:00"


@pytest.mark.parametrize("language", ["en", "zh-TW"])
@pytest.mark.parametrize("width", [1280, 1440])
def test_every_tab_of_the_top_bar_is_wholly_in_view(page, live_server, language, width):
    """The tab bar scrolls rather than wrap, with its scrollbar hidden: a tab past its edge
    would be cut off without a sign. At a laptop's width and wider, none of the four is (the
    role label beside the user's name shows only where there is room for it)."""
    page.set_viewport_size({"width": width, "height": 800})
    page.set_extra_http_headers({"Accept-Language": language})
    StaffFactory(username=f"tabs-{width}-{language}")
    sign_in(page, live_server, f"tabs-{width}-{language}", PASSWORD)
    page.goto(f"{live_server.url}/logs/audit/")
    page.wait_for_load_state("networkidle")
    edge = page.locator(".tabs").evaluate("t => t.getBoundingClientRect().right")
    # The product's four tabs (the tests register a fifth kind, which may scroll).
    rights = [page.locator(f".tabs .tab[href='/logs/{slug}/']").evaluate(
        "t => t.getBoundingClientRect().right") for slug in ("audit", "usage", "auth", "system")]
    assert max(rights) <= edge + 0.5, (rights, edge)
