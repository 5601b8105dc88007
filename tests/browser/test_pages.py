"""Pages beyond the console's tabs, in a real browser: a member's own usage, the audit
detail's before/after, support on the auth tab, an export downloaded, retention."""

import csv
import io
import re

import pytest
from playwright.sync_api import expect

from logcenter.core.registry import registry
from tests.browser.test_console import sign_in, table_rows
from tests.factories import (AuditEventFactory, AuthEventFactory, MemberFactory, StaffFactory,
                             UsageRecordFactory)

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True),
              pytest.mark.xdist_group("browser")]

PASSWORD = "correct-horse-battery"


def column(page, name):
    """The cell texts of one column of the list, by its header class (col-<name>)."""
    index = page.locator("table#log-rows thead th").evaluate_all(
        f"ths => ths.findIndex(th => th.classList.contains('col-{name}'))")
    assert index >= 0, f"no {name} column"
    return page.locator(f"table#log-rows tbody tr td:nth-child({index + 1})").all_inner_texts()


def test_member_sees_only_own_usage_and_no_audit_tab(page, live_server, screenshot):
    member = MemberFactory(username="mia")
    UsageRecordFactory.create_batch(3, user_id=str(member.pk), username="mia")
    UsageRecordFactory.create_batch(4, user_id="other-42", username="someone-else")

    sign_in(page, live_server, "mia", PASSWORD)

    expect(table_rows(page)).to_have_count(3)
    assert set(column(page, "username")) == {"mia"}
    expect(page.locator("#row-count")).to_have_text("3 matching rows")
    expect(page.locator("#results")).not_to_contain_text("someone-else")
    # Tabs: their usage and their sign-ins, and the timeline; no audit tab, no retention link.
    expect(page.locator("nav.tabs a.tab")).to_have_text(["Usage", "Authentication", "Timeline"])
    expect(page.locator(".usermenu")).not_to_contain_text("Retention")
    expect(page.locator("#panels")).not_to_contain_text("Loading figures")
    screenshot("member-usage")

    # Typing the address anyway: the app answers 403 with its own page.
    response = page.goto(f"{live_server.url}/logs/audit/")
    assert response.status == 403
    expect(page.locator("h1")).to_have_text("Not allowed")
    expect(page.locator(".login-card")).to_contain_text("may not open the Audit tab")
    screenshot("member-audit-403")


def test_audit_detail_shows_before_and_after(page, live_server, screenshot):
    StaffFactory(username="audit-admin")
    AuditEventFactory(action="user.updated", resource_name="Ada Lovelace",
                      changes={"role": {"before": "member", "after": "finance"},
                               "is_active": {"before": True, "after": False}})

    sign_in(page, live_server, "audit-admin", PASSWORD)
    page.click("nav.tabs >> text=Audit")
    page.wait_for_url(re.compile(r"/logs/audit/"))
    row = table_rows(page).filter(has_text="Ada Lovelace")
    row.locator("td a").first.click()
    page.wait_for_url(re.compile(r"/logs/audit/[0-9a-f-]{36}/"))

    expect(page.locator("h1")).to_contain_text("user.updated")
    changes = page.locator("section.card", has=page.locator("h2", has_text="Changes"))
    expect(changes.locator("table.changes thead th")).to_have_text(["Field", "Before", "After"])
    role = changes.locator("tbody tr", has=page.locator("code", has_text="role"))
    expect(role.locator("td.before")).to_have_text("member")
    expect(role.locator("td.after")).to_have_text("finance")
    active = changes.locator("tbody tr", has=page.locator("code", has_text="is_active"))
    expect(active.locator("td.before")).to_have_text("yes")
    expect(active.locator("td.after")).to_have_text("no")
    screenshot("audit-detail-changes")


def test_support_finds_failed_sign_ins_on_the_auth_tab(page, live_server, screenshot):
    MemberFactory(username="dana")
    MemberFactory(username="sam", roles=["Support"])
    AuthEventFactory.create_batch(3)  # successful sign-ins of other people
    AuthEventFactory(event="login.failed", result="failure", failure_reason="inactive",
                     username_attempted="former-employee")

    # Dana cannot sign in: a real failed attempt through the sign-in form.
    page.goto(f"{live_server.url}/accounts/login/")
    page.fill("#id_username", "dana")
    page.fill("#id_password", "not-her-password")
    page.click("button[type=submit]")
    expect(page.locator(".form-error")).to_be_visible()

    sign_in(page, live_server, "sam", PASSWORD)
    page.click("nav.tabs >> text=Authentication")
    page.wait_for_url(re.compile(r"/logs/auth/"))
    page.fill("#id_event", "login.failed")
    page.select_option("#id_result", "failure")
    page.click("text=Apply filters")
    page.wait_for_url(re.compile(r"event=login\.failed"))
    expect(table_rows(page)).to_have_count(2)
    assert set(column(page, "event")) == {"login.failed"}
    assert set(column(page, "result")) == {"Failure"}
    assert sorted(column(page, "username_attempted")) == ["dana", "former-employee"]

    # Narrow to the wrong-password failures with the failure-reason field (More filters).
    page.click("#more-filters summary")
    page.fill("#id_failure_reason", "bad_password")
    page.click("text=Apply filters")
    page.wait_for_url(re.compile(r"failure_reason=bad_password"))
    expect(table_rows(page)).to_have_count(1)
    assert column(page, "username_attempted") == ["dana"]
    assert column(page, "failure_reason") == ["bad_password"]
    screenshot("auth-failed-sign-ins")


def test_usage_export_downloads_the_filtered_rows(page, live_server, screenshot):
    StaffFactory(username="export-admin")
    wanted = UsageRecordFactory.create_batch(3, platform_model="export-me")
    UsageRecordFactory.create_batch(4)

    sign_in(page, live_server, "export-admin", PASSWORD)
    # The filtered list as loaded from its address (a reload, a bookmark, a shared link).
    page.goto(f"{live_server.url}/logs/usage/?platform_model=export-me")
    expect(table_rows(page)).to_have_count(3)

    page.select_option("select[name=format]", "csv")
    page.click("form.export-form button[type=submit]")
    page.wait_for_url(re.compile(r"/exports/$"))
    expect(page.locator(".messages li.success")).to_contain_text("Export started")
    job = page.locator("table.jobs tbody tr").first
    expect(job).to_have_attribute("data-status", "completed")  # htmx polls until done
    expect(job).to_contain_text("platform_model=export-me")
    expect(job.locator("td.num")).to_have_text("3 / 3")
    screenshot("exports-completed")

    with page.expect_download() as info:
        job.locator("a", has_text="Download").click()
    download = info.value
    assert download.suggested_filename.endswith(".csv")
    with open(download.path(), encoding="utf-8", newline="") as fh:
        text = fh.read()
    rows = list(csv.DictReader(io.StringIO(text)))  # rows only: no closing metadata line
    assert len(rows) == 3
    assert {row["platform_model"] for row in rows} == {"export-me"}
    assert sorted(row["event_id"] for row in rows) == sorted(str(r.event_id) for r in wanted)


def test_export_after_filtering_with_the_bar_keeps_the_filter(page, live_server):
    StaffFactory(username="export-admin2")
    UsageRecordFactory.create_batch(2, platform_model="export-me")
    UsageRecordFactory.create_batch(2)

    sign_in(page, live_server, "export-admin2", PASSWORD)
    page.fill("#id_platform_model", "export-me")
    page.click("text=Apply filters")
    page.wait_for_url(re.compile(r"platform_model=export-me"))
    expect(table_rows(page)).to_have_count(2)
    # The address holds what was set, once: no empty fields, no query repeated.
    assert page.url.split("?", 1)[1] == "platform_model=export-me&page_size=50"
    # htmx swapped only the results; the links outside them came along out of band.
    expect(page.get_by_role("link", name="Open in API")).to_have_attribute(
        "href", re.compile(r"platform_model=export-me"))
    expect(page.locator("#range-presets a").first).to_have_attribute(
        "href", re.compile(r"platform_model=export-me"))
    page.click("form.export-form button[type=submit]")
    page.wait_for_url(re.compile(r"/exports/$"))
    job = page.locator("table.jobs tbody tr").first
    expect(job).to_have_attribute("data-status", "completed")
    expect(job).to_contain_text("platform_model=export-me")
    expect(job.locator("td.num")).to_have_text("2 / 2")


def test_retention_page_shows_policies_to_an_admin(page, live_server, screenshot):
    StaffFactory(username="retention-admin")

    sign_in(page, live_server, "retention-admin", PASSWORD)
    page.click(".usermenu >> text=Retention")
    page.wait_for_url(re.compile(r"/retention/$"))

    policies = page.locator("section.card", has=page.locator("h2", has_text="Policies"))
    expect(policies.locator("tbody td:first-child")).to_have_text(
        [str(kind.label) for kind in registry])
    for label, days in ((kind.label, str(kind.retention_days)) for kind in registry):
        expect(page.get_by_label(f"{label} days", exact=True)).to_have_value(days)
        expect(page.get_by_label(f"{label} legal hold", exact=True)).not_to_be_checked()
    expect(page.locator("#deletions")).to_contain_text("No deletions yet.")
    screenshot("retention")

    # Changing a policy: saved, said so, and shown after the redirect.
    page.get_by_label("Usage days", exact=True).fill("120")
    policies.locator("tbody tr", has_text="Usage").get_by_role("button", name="Save").click()
    expect(page.locator(".messages li.success")).to_have_text("Usage retention saved: 120 days.")
    expect(page.get_by_label("Usage days", exact=True)).to_have_value("120")


def test_a_capped_count_becomes_exact_once_the_usage_figures_load(page, live_server, settings):
    settings.LOGCENTER = {**settings.LOGCENTER, "COUNT_CAP": 2}
    StaffFactory(username="count-admin")
    UsageRecordFactory.create_batch(5)
    AuthEventFactory.create_batch(5)

    sign_in(page, live_server, "count-admin", PASSWORD)
    # The list counts up to its cap; the panels' exact figure then takes its place.
    expect(page.locator("#usage-summary")).to_be_visible()
    expect(page.locator("#row-count")).to_have_text("5 matching rows")
    # Tabs without usage figures keep the capped count.
    page.goto(f"{live_server.url}/logs/auth/?range=30d")
    expect(page.locator("#row-count")).to_contain_text("2+ matching rows")
