"""Organizations in a real browser: an organization's admin opens My organization from the
top bar and reads their members, projects and plan; a platform administrator opens
Organizations, changes a plan there, and picks that organization on the Usage list from the
bar's switcher, which applies it at once."""

import re

import pytest
from playwright.sync_api import expect

from accounts import organizations
from accounts.models import Plan, Project
from logcenter.models import AuditEvent
from tests.browser.test_console import sign_in, table_rows
from tests.factories import MemberFactory, StaffFactory, UsageRecordFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True),
              pytest.mark.xdist_group("browser")]

PASSWORD = "correct-horse-battery"


@pytest.fixture
def acme():
    administrator = StaffFactory(username="plat-admin")
    acme = organizations.organization_create(actor=administrator, name="Acme Robotics",
                                             plan=Plan.objects.get(slug="pro"))
    Project.objects.create(organization=acme, name="Production", slug="production")
    for username, role in (("acme-admin", "admin"), ("acme-dev", "member")):
        organizations.membership_set(actor=administrator, organization=acme,
                                     user=MemberFactory(username=username), role=role)
    return acme


def test_an_organization_admin_reads_my_organization(page, live_server, acme):
    UsageRecordFactory(organization_id=acme.public_id, username="acme-dev")
    sign_in(page, live_server, "acme-admin", PASSWORD)
    expect(page.locator("select.organization-switcher")).to_have_count(0)
    page.get_by_role("link", name="My organization").click()
    page.wait_for_url(re.compile(r"/accounts/organization/$"))
    expect(page.locator("h1")).to_contain_text("Acme Robotics")
    members = page.locator("#organization-members")
    expect(members).to_contain_text("acme-dev")
    expect(members.locator("tr", has_text="acme-admin").locator(".member-role")).to_have_text(
        "Admin")
    expect(page.locator("#organization-projects")).to_contain_text("Production")
    expect(page.locator("#organization-plan .plan-name")).to_have_text("Pro")
    expect(page.locator("#organization-plan")).to_contain_text("90 days")
    expect(page.locator("form#organization-settings, form#member-form")).to_have_count(0)
    expect(page.locator("#admin-menu")).to_have_count(0)


def test_an_administrator_changes_a_plan_and_picks_the_organization_on_a_list(
        page, live_server, acme):
    UsageRecordFactory(organization_id=acme.public_id, username="acme-dev")
    UsageRecordFactory(organization_id="", username="someone-else")
    sign_in(page, live_server, "plat-admin", PASSWORD)
    expect(table_rows(page)).to_have_count(2)
    page.locator("#admin-menu summary").click()  # the administrator's pages
    page.get_by_role("link", name="Organizations", exact=True).click()
    page.wait_for_url(re.compile(r"/accounts/organizations/$"))
    page.get_by_role("link", name="Acme Robotics").click()
    page.locator("#organization-settings select[name=plan]").select_option(label="Enterprise")
    page.locator("#organization-settings button[type=submit]").click()
    expect(page.locator("ul.messages")).to_contain_text("plan and legal hold saved")
    expect(page.locator("#organization-plan .plan-name")).to_have_text("Enterprise")
    assert AuditEvent.objects.filter(action="organization.plan_changed",
                                     actor_name="plat-admin").exists()

    page.goto(f"{live_server.url}/logs/usage/")
    page.locator("select.organization-switcher").select_option(label="Acme Robotics")
    page.wait_for_url(re.compile(rf"organization_id={acme.public_id}"))
    expect(table_rows(page)).to_have_count(1)
    expect(page.locator(".chips")).to_contain_text("Acme Robotics")
