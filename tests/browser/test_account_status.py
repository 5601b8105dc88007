"""The unlock flow in a real browser: wrong passwords typed on the sign-in page lock an
account; a Support user follows the lockout's user link from the authentication detail page
to the account page, sees until when it is locked, presses Unlock and sees it unlocked; the
audit log holds the unlock, and the account signs in again."""

import re
import zoneinfo
from datetime import datetime

import pytest
from django.conf import settings
from playwright.sync_api import expect

from logcenter.models import AuditEvent, AuthEvent
from tests.browser.conftest import _wait_for_other_sessions_to_settle
from tests.factories import MemberFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True),
              pytest.mark.xdist_group("browser")]

PASSWORD = "correct-horse-battery"


def sign_in_form(page, live_server, username, password):
    page.goto(f"{live_server.url}/accounts/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", password)
    page.click("button[type=submit]")


def test_support_unlocks_an_account_locked_by_failed_sign_ins(browser, page, live_server):
    locked = MemberFactory(username="wanda")
    MemberFactory(username="sam-support", roles=["Support"], timezone="Asia/Shanghai")

    # Locked the way people lock themselves out: wrong passwords on the sign-in page.
    for _ in range(settings.SIGNIN["MAX_FAILURES"]):
        sign_in_form(page, live_server, "wanda", "not-the-password")
        expect(page.locator("#id_password")).to_be_visible()  # still on the sign-in page
    lock = AuthEvent.objects.get(event="account.locked", user_id=str(locked.pk))
    sign_in_form(page, live_server, "wanda", PASSWORD)  # the right one: refused while locked
    expect(page.locator("#id_password")).to_be_visible()
    assert AuthEvent.objects.filter(user_id=str(locked.pk), failure_reason="locked").exists()

    # Support: the lockout on the Authentication tab, its detail, the user's account page.
    sign_in_form(page, live_server, "sam-support", PASSWORD)
    page.wait_for_url(re.compile(r"/logs/"))
    page.goto(f"{live_server.url}/logs/auth/?event=account.locked")
    page.locator("table#log-rows tbody tr td a").first.click()
    page.wait_for_url(f"**{lock.get_absolute_url()}")
    page.locator("a.account-link").click()
    page.wait_for_url(f"**/accounts/users/{locked.pk}/")
    state = page.locator("#account-status .lock-state")
    expect(state).to_contain_text("Locked")
    # Until when, to the second, in the support user's time zone.
    until = datetime.fromisoformat(lock.metadata["locked_until"]).astimezone(
        zoneinfo.ZoneInfo("Asia/Shanghai"))
    expect(state).to_contain_text(f"until {until:%Y-%m-%d %H:%M:%S}")

    page.locator(".unlock-form button[type=submit]").click()
    page.wait_for_url(f"**/accounts/users/{locked.pk}/")
    expect(page.get_by_text("wanda may sign in again.")).to_be_visible()
    expect(state).to_contain_text("Not locked")
    expect(state).not_to_contain_text("until")

    # The audit log holds the unlock, by the support user, about that account.
    unlock = AuditEvent.objects.get(action="user.unlocked")
    assert (unlock.actor_name, unlock.resource_type, unlock.resource_id,
            unlock.resource_name) == ("sam-support", "user", str(locked.pk), "wanda")
    assert AuthEvent.objects.filter(event="account.unlocked", user_id=str(locked.pk)).exists()

    # And the account signs in again (a browser of its own).
    context = browser.new_context()
    try:
        own = context.new_page()
        sign_in_form(own, live_server, "wanda", PASSWORD)
        own.wait_for_url(re.compile(r"/logs/"))
        own.wait_for_load_state("networkidle")
    finally:
        context.close()
        _wait_for_other_sessions_to_settle()
