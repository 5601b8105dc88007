"""Support's account page (lockout state, recent sign-ins, Unlock) and every user's own
settings page (time zone, language); a member sees their own sign-ins' IP and user agent."""

import re

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from accounts.models import User
from logcenter.models import AuditEvent, AuthEvent
from tests.factories import FACTORIES, MemberFactory, StaffFactory

pytestmark = pytest.mark.django_db
PASSWORD = "correct-horse-battery"


def lock_out(client, username, settings):
    settings.SIGNIN = {**settings.SIGNIN, "MAX_FAILURES": 2}
    for _ in range(2):
        client.post("/accounts/login/", {"username": username, "password": "wrong"},
                    HTTP_USER_AGENT="LockedBrowser/2.0")


def test_the_lockout_event_says_until_when(client, settings):
    user = MemberFactory(username="lena")
    lock_out(client, "lena", settings)
    event = AuthEvent.objects.get(event="account.locked")
    until = event.metadata["locked_until"]
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", until)
    from accounts.selectors import account_status

    status = account_status(user)
    assert status.locked and status.locked_until.strftime("%Y-%m-%dT%H:%M:%SZ") == until
    # The detail page shows it (the Metadata card).
    client.force_login(StaffFactory(username="sup-detail", roles=["Support"]))
    page = client.get(event.get_absolute_url()).content.decode()
    assert "locked_until" in page and until in page
    assert f'href="/accounts/users/{user.pk}/"' in page  # the user, to their account page


def test_support_unlocks_from_the_account_page(client, settings):
    user = MemberFactory(username="mona")
    lock_out(client, "mona", settings)
    support = StaffFactory(username="sup-unlock", roles=["Support"])
    client.force_login(support)
    page = client.get(f"/accounts/users/{user.pk}/")
    html = page.content.decode()
    assert page.status_code == 200
    from accounts.selectors import account_status

    # The lock's end, not its start: a lock taken shortly before midnight ends the next day.
    until = timezone.localtime(account_status(user).locked_until)
    assert "Locked" in html and "until " + until.strftime("%Y-%m-%d") in html
    assert "LockedBrowser/2.0" in html  # the recent sign-ins, unmasked for support
    assert html.count("login.failed") == 2 and 'action="/accounts/users/' in html

    response = client.post(f"/accounts/users/{user.pk}/unlock/")
    assert response.status_code == 302 and response["Location"] == f"/accounts/users/{user.pk}/"
    html = client.get(f"/accounts/users/{user.pk}/").content.decode()
    assert "Not locked" in html and "mona may sign in again." in html
    unlocked = AuthEvent.objects.get(event="account.unlocked")
    assert unlocked.user_id == str(user.pk) and unlocked.actor_name == "sup-unlock"
    audit = AuditEvent.objects.get(action="user.unlocked")
    assert audit.actor_name == "sup-unlock" and audit.resource_id == str(user.pk)
    assert audit.changes == {"locked": {"before": True, "after": False}}
    client.logout()
    signed_in = client.post("/accounts/login/", {"username": "mona", "password": PASSWORD})
    assert signed_in.status_code == 302


def test_an_auditor_sees_the_page_but_may_not_unlock(client, settings):
    user = MemberFactory(username="nina")
    lock_out(client, "nina", settings)
    client.force_login(StaffFactory(username="aud", roles=["Auditor"]))
    html = client.get(f"/accounts/users/{user.pk}/").content.decode()
    assert "Locked" in html and "/unlock/" not in html
    assert client.post(f"/accounts/users/{user.pk}/unlock/").status_code == 403
    assert not AuthEvent.objects.filter(event="account.unlocked").exists()


@pytest.mark.parametrize("role", ["Member", "Finance"])
def test_roles_that_do_not_see_everyones_sign_ins_get_403(client, role):
    other = MemberFactory(username=f"other-{role}")
    viewer = (MemberFactory if role == "Member" else StaffFactory)(
        username=f"viewer-{role}", roles=[role])
    client.force_login(viewer)
    assert client.get(f"/accounts/users/{other.pk}/").status_code == 403
    assert client.get(f"/accounts/users/{viewer.pk}/").status_code == 403
    assert client.post(f"/accounts/users/{other.pk}/unlock/").status_code == 403
    assert not AuditEvent.objects.filter(action="user.unlocked").exists()


def test_unknown_account_is_404_and_bad_parameters_400(client):
    client.force_login(StaffFactory(username="sup-404", roles=["Support"]))
    assert client.get("/accounts/users/999999/").status_code == 404
    assert client.get("/accounts/users/1/?oops=1").status_code == 400


def test_a_member_saves_their_time_zone_and_language(client):
    member = MemberFactory(username="olga")
    client.force_login(member)
    page = client.get("/accounts/profile/")
    assert page.status_code == 200 and 'name="timezone"' in page.content.decode()
    response = client.post("/accounts/profile/", {"timezone": "Asia/Shanghai",
                                                  "language": "zh-hans"})
    assert response.status_code == 302
    member.refresh_from_db()
    assert (member.timezone, member.language) == ("Asia/Shanghai", "zh-hans")
    # The next page speaks Simplified Chinese and shows times in Shanghai's zone.
    html = client.get("/accounts/profile/").content.decode()
    assert '<html lang="zh-hans">' in html and "Asia/Shanghai" in html
    # A preference, not an administrator's change.
    assert not AuditEvent.objects.filter(resource_id=str(member.pk),
                                         action="user.updated").exists()


def test_a_bad_time_zone_is_a_form_error(client):
    member = MemberFactory(username="pia")
    client.force_login(member)
    response = client.post("/accounts/profile/", {"timezone": "Mars/Olympus", "language": ""})
    assert response.status_code == 400 and "field-error" in response.content.decode()
    member.refresh_from_db()
    assert member.timezone == "UTC"


def test_a_member_sees_their_own_sign_ins_ip_and_user_agent(client):
    member = MemberFactory(username="quinn")
    mine = FACTORIES["auth"](user_id=str(member.pk), ip="203.0.113.7",
                             user_agent="QuinnBrowser/1.0")
    FACTORIES["auth"](user_id="someone-else", ip="203.0.113.8", user_agent="OtherBrowser/1.0")
    client.force_login(member)
    detail = client.get(mine.get_absolute_url()).content.decode()
    assert "203.0.113.7" in detail and "QuinnBrowser/1.0" in detail
    assert "/accounts/users/" not in detail  # no account page for a member
    api = APIClient()
    api.force_authenticate(member)
    rows = api.get("/api/v1/auth-events/?range=all").json()["results"]
    assert [(r["ip"], r["user_agent"]) for r in rows] == [("203.0.113.7", "QuinnBrowser/1.0")]


def test_the_top_bar_links_to_the_users_own_settings(client):
    client.force_login(MemberFactory(username="rosa"))
    html = client.get("/exports/").content.decode()
    assert 'href="/accounts/profile/"' in html
    assert User.objects.get(username="rosa").timezone in html
