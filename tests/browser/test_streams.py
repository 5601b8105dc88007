"""Log streams in a real browser: an administrator opens Log streams from the Admin menu,
creates a webhook destination through the form (the type's own fields show as the type is
chosen), finds it in the list with its status and lag, and opens its health page; the
pages fit a laptop (1280×800) and a phone (390×844) without the page scrolling sideways.
Screenshots go to /tmp/shots/."""

import re
from pathlib import Path

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from logcenter.streams import services
from logcenter.streams.models import Destination
from tests.browser.test_accessibility import violations
from tests.browser.test_console import sign_in
from accounts.models import Plan
from tests.factories import (AuthEventFactory, MemberFactory, MembershipFactory,
                             OrganizationFactory, StaffFactory)

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True),
              pytest.mark.xdist_group("browser")]

PASSWORD = "correct-horse-battery"
SECRET = "browser-webhook-secret-0123456789"
SHOTS = Path("/tmp/shots")
PAGE_OVERFLOW = "document.documentElement.scrollWidth - window.innerWidth"
LAPTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}


def shoot(page, name):
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def fits(page):
    """No sideways scrolling of the page, and nothing serious for axe."""
    assert page.evaluate(PAGE_OVERFLOW) <= 0, "the page is wider than the window"
    assert violations(page) == []


@pytest.fixture
def others():
    """Two more destinations, so the list shows other states: one failing with a long
    error, one paused, for an organization."""
    owner = StaffFactory(username="streams-owner")
    acme = OrganizationFactory(name="Acme Robotics International", plan="enterprise")
    failing = services.destination_save(owner, {
        "name": "Splunk production (EU west)", "type": "webhook",
        "endpoint": "https://hec.eu-west.splunk.example.com:8088/services/collector/event",
        "kinds": ["audit", "usage", "auth", "system"], "batch_size": 500,
        "interval_seconds": 5, "organization": acme}, credentials={"secret": SECRET})
    Destination.objects.filter(pk=failing.pk).update(
        consecutive_failures=4, failed_count=9, failing_since=timezone.now(),
        last_error="HTTP 503: <html><body>Service Unavailable: the collector is overloaded, "
                   "retry later (upstream connect error or disconnect/reset before headers)"
                   "</body></html>", last_error_at=timezone.now())
    paused = services.destination_save(owner, {
        "name": "Archive", "type": "webhook", "endpoint": "https://archive.example.com/in",
        "kinds": ["audit"], "batch_size": 500, "interval_seconds": 5},
        credentials={"secret": SECRET})
    services.destination_pause(owner, paused)
    return failing, paused


def test_an_administrator_creates_a_webhook_destination_and_reads_its_health(
        page, live_server, others):
    StaffFactory(username="streams-admin")
    page.set_viewport_size(LAPTOP)
    sign_in(page, live_server, "streams-admin", PASSWORD)

    page.locator("#admin-menu summary").click()
    page.get_by_role("link", name="Log streams").click()
    page.wait_for_url(re.compile(r"/logs/streams/$"))
    page.get_by_role("link", name="New destination").click()
    page.wait_for_url(re.compile(r"/logs/streams/new/$"))

    # Choosing the type shows its fields and hides the others'.
    page.select_option("#id_type", "webhook")
    expect(page.locator("#fields-webhook")).to_be_visible()
    for other in page.locator("fieldset.type-fields:not(#fields-webhook)").all():
        expect(other).to_be_hidden()
    page.fill("#id_name", "Security SIEM")
    # First with a wrong address and no kind: the errors show at their fields.
    page.fill("#id_endpoint", "ftp://siem.example.com/logcenter")
    page.fill("#id_webhook__secret", SECRET)
    page.get_by_role("button", name="Create destination").click()
    expect(page.locator(".has-error", has=page.locator("#id_endpoint"))).to_contain_text(
        "Enter an http:// or https:// address.")
    expect(page.locator(".has-error", has=page.locator("#id_kinds"))).to_contain_text(
        "Choose at least one kind of log.")
    expect(page.locator("#id_webhook__secret")).to_have_value("")  # never sent back
    expect(page.locator("#fields-webhook")).to_be_visible()
    fits(page)
    shoot(page, "streams-form-errors-1280")

    page.fill("#id_endpoint", "https://siem.example.com/logcenter")
    page.fill("#id_webhook__secret", SECRET)
    page.check("input[name=kinds][value=audit]")
    page.check("input[name=kinds][value=auth]")
    page.fill("#id_event_patterns", "auth.*")
    fits(page)
    shoot(page, "streams-form-1280")
    page.get_by_role("button", name="Create destination").click()

    page.wait_for_url(re.compile(r"/logs/streams/dst_[0-9a-f]+/$"))
    expect(page.locator("ul.messages")).to_contain_text("Destination Security SIEM created.")
    expect(page.locator("h1 .stream-status")).to_have_text("Running")
    expect(page.locator("#stream-settings")).to_contain_text("stored, hidden")
    assert SECRET not in page.content()
    created = Destination.objects.get(name="Security SIEM")
    assert created.kinds == ["audit", "auth"] and created.type == "webhook"

    # Rows arrive: the list shows the lag.
    AuthEventFactory.create_batch(3)  # auth.*: rows it carries
    page.goto(f"{live_server.url}/logs/streams/")
    row = page.locator(f"tr#{created.public_id}")
    expect(row.locator(".stream-status")).to_have_text("Running")
    expect(row.locator(".lag-behind")).to_have_text(re.compile(r"^\d+ events? behind$"))
    failing, paused = others
    expect(page.locator(f"tr#{failing.public_id} .stream-status")).to_have_text("Failing")
    expect(page.locator(f"tr#{paused.public_id} .stream-status")).to_have_text("Paused")
    fits(page)
    shoot(page, "streams-list-1280")

    row.get_by_role("link", name="Security SIEM").click()
    page.wait_for_url(re.compile(rf"/logs/streams/{created.public_id}/$"))
    expect(page.locator("#stream-health .lag")).to_contain_text("behind")
    expect(page.locator("#stream-cursor")).to_have_text(re.compile(r"^audit:\d+,auth:\d+$"))
    fits(page)
    shoot(page, "streams-detail-1280")

    page.goto(f"{live_server.url}/logs/streams/{failing.public_id}/")
    expect(page.locator("#stream-health pre.last-error")).to_contain_text("Service Unavailable")
    fits(page)
    shoot(page, "streams-failing-1280")

    # A phone: the same pages fit; the list's table scrolls in its own box.
    page.set_viewport_size(PHONE)
    for path, name in (("/logs/streams/", "list"), (f"/logs/streams/{created.public_id}/",
                                                    "detail"),
                       ("/logs/streams/new/", "form")):
        page.goto(f"{live_server.url}{path}")
        fits(page)
        shoot(page, f"streams-{name}-390")
    page.goto(f"{live_server.url}/logs/streams/")
    box = page.locator("#stream-list").locator("xpath=ancestor::div[contains(@class, "
                                               "'table-wrap')][1]")
    assert box.evaluate("b => getComputedStyle(b).overflowX") == "auto"


def test_pause_replay_and_delete_from_the_health_page(page, live_server):
    admin = StaffFactory(username="streams-actions")
    destination = services.destination_save(admin, {
        "name": "Hook", "type": "webhook", "endpoint": "https://hook.example.com/in",
        "kinds": ["audit"], "batch_size": 100, "interval_seconds": 5},
        credentials={"secret": SECRET})
    page.set_viewport_size(LAPTOP)
    sign_in(page, live_server, "streams-actions", PASSWORD)
    page.goto(f"{live_server.url}/logs/streams/{destination.public_id}/")

    page.get_by_role("button", name="Pause").click()
    expect(page.locator("h1 .stream-status")).to_have_text("Paused")
    expect(page.locator("ul.messages")).to_contain_text("is paused")

    page.fill("#id_cursor", "audit:nope")
    page.locator("#replay-form button[type=submit]").click()
    expect(page.locator("#replay-form .field-error")).to_contain_text("is not kind:id")
    page.fill("#id_cursor", "audit:1")
    page.locator("#replay-form button[type=submit]").click()
    expect(page.locator("#stream-cursor")).to_have_text("audit:1")

    page.get_by_role("button", name="Resume").click()
    expect(page.locator("h1 .stream-status")).to_have_text("Running")

    page.get_by_role("link", name="Delete destination…").click()
    page.get_by_role("button", name="Delete destination").click()
    page.wait_for_url(re.compile(r"/logs/streams/$"))
    expect(page.locator("ul.messages")).to_contain_text("Destination Hook deleted.")
    assert not Destination.objects.filter(pk=destination.pk).exists()


@pytest.mark.parametrize("plan", ["enterprise", "pro"])
def test_an_organization_admin_finds_log_streams_in_the_admin_menu(page, live_server, plan):
    """Enterprise: the Admin menu holds Log streams (and the bar's tabs still fit at 1280);
    a plan without streaming, once it has destinations, shows them with the plan's word
    instead of the New destination button."""
    owner = StaffFactory(username=f"streams-platform-{plan}")
    organization = OrganizationFactory(name="Acme Robotics", plan="enterprise")
    # A 12-character username, as test_layout's bar check uses.
    username = f"acme-admin-{plan[0]}"
    admin = MembershipFactory(role="admin", organization=organization,
                              user=MemberFactory(username=username)).user
    services.destination_save(admin, {
        "name": "Acme SIEM", "type": "webhook", "endpoint": "https://siem.acme.example/in",
        "kinds": ["audit"], "batch_size": 500, "interval_seconds": 5},
        credentials={"secret": SECRET})
    services.destination_save(owner, {
        "name": "Platform SIEM", "type": "webhook", "endpoint": "https://siem.example/in",
        "kinds": ["audit"], "batch_size": 500, "interval_seconds": 5},
        credentials={"secret": SECRET})
    if plan != "enterprise":
        organization.plan = Plan.objects.get(slug=plan)
        organization.save()
    page.set_viewport_size(LAPTOP)
    sign_in(page, live_server, username, PASSWORD)
    edge = page.locator(".tabs").evaluate("t => t.getBoundingClientRect().right")
    # The product's four tabs (the tests' fifth kind may scroll), as test_layout checks.
    rights = [page.locator(f".tabs .tab[href='/logs/{slug}/']").evaluate(
        "t => t.getBoundingClientRect().right") for slug in ("audit", "usage", "auth", "system")]
    assert max(rights) <= edge + 0.5, (rights, edge)
    page.locator("#admin-menu summary").click()
    page.get_by_role("link", name="Log streams").click()
    page.wait_for_url(re.compile(r"/logs/streams/$"))
    expect(page.locator("#stream-list")).to_contain_text("Acme SIEM")
    expect(page.locator("#stream-list")).not_to_contain_text("Platform SIEM")
    if plan == "enterprise":
        expect(page.get_by_role("link", name="New destination")).to_be_visible()
    else:
        expect(page.locator(".stream-refusal")).to_contain_text(
            "The Pro plan does not include log streaming")
        expect(page.get_by_role("link", name="New destination")).to_have_count(0)
    fits(page)
    shoot(page, f"streams-org-admin-{plan}-1280")
    page.set_viewport_size(PHONE)
    fits(page)
    shoot(page, f"streams-org-admin-{plan}-390")
