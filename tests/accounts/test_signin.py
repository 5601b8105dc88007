"""Sign-in: auth events for every outcome, atomic lockout, same message for unknown users."""

import threading

import pytest
from django.db import connection
from django.test import RequestFactory

from accounts import services
from accounts.models import User
from logcenter.models import AuditEvent, AuthEvent
from tests.factories import MemberFactory, StaffFactory

PASSWORD = "correct-horse-battery"


def post_login(client, username, password, **extra):
    return client.post("/accounts/login/", {"username": username, "password": password},
                       HTTP_USER_AGENT="TestBrowser/1.0", **extra)


@pytest.mark.django_db
def test_success_and_failures_become_auth_events(client):
    user = MemberFactory(username="dana")
    post_login(client, "dana", "wrong")
    post_login(client, "nobody-here", "wrong")
    response = post_login(client, "dana", PASSWORD)
    assert response.status_code == 302
    client.post("/accounts/logout/")

    events = list(AuthEvent.objects.order_by("id"))
    assert [(e.event, e.failure_reason) for e in events] == [
        ("login.failed", "bad_password"),
        ("login.failed", "unknown_user"),
        ("login.succeeded", ""),
        ("logout", ""),
    ]
    assert events[0].user_id == str(user.pk) and events[1].user_id == ""
    assert events[1].username_attempted == "nobody-here"
    assert all(e.ip == "127.0.0.1" and e.user_agent == "TestBrowser/1.0" for e in events[:3])
    assert all(e.request_id.startswith("req_") for e in events)
    assert len(events[2].session_key_hash) == 64


@pytest.mark.django_db
def test_unknown_user_and_wrong_password_read_the_same(client):
    MemberFactory(username="erin")
    wrong = post_login(client, "erin", "nope").content.decode()
    unknown = post_login(client, "ghost", "nope").content.decode()
    assert "Invalid username or password." in wrong
    assert "Invalid username or password." in unknown
    inactive = MemberFactory(username="frank", is_active=False)
    assert "Invalid username or password." in post_login(client, "frank", PASSWORD).content.decode()
    assert AuthEvent.objects.filter(failure_reason="inactive", user_id=str(inactive.pk)).exists()


@pytest.mark.django_db
def test_lockout_after_the_limit_and_correct_password_refused_while_locked(client, settings):
    settings.SIGNIN = {**settings.SIGNIN, "MAX_FAILURES": 3}
    MemberFactory(username="gina")
    for _ in range(3):
        post_login(client, "gina", "bad")
    locked = post_login(client, "gina", PASSWORD)
    assert locked.status_code == 200  # the form again, not a redirect
    assert "Too many failed sign-in attempts" in locked.content.decode()
    assert AuthEvent.objects.filter(event="account.locked").count() == 1
    assert AuthEvent.objects.filter(event="login.failed", failure_reason="locked").count() == 1


@pytest.mark.django_db
def test_per_ip_limit_stops_spraying_across_usernames(client, settings):
    settings.SIGNIN = {**settings.SIGNIN, "IP_MAX_FAILURES": 4}
    MemberFactory(username="hank")
    for name in ("a1", "a2", "a3", "a4"):
        post_login(client, name, "x")
    response = post_login(client, "hank", PASSWORD)
    assert "Too many failed sign-in attempts" in response.content.decode()
    assert AuthEvent.objects.filter(failure_reason="ip_blocked").count() == 1
    # Another address is not blocked.
    assert post_login(client, "hank", PASSWORD, REMOTE_ADDR="192.0.2.50").status_code == 302


@pytest.mark.django_db
def test_administrator_unlocks_an_account_audited(client, settings):
    settings.SIGNIN = {**settings.SIGNIN, "MAX_FAILURES": 2}
    admin = StaffFactory(username="root-admin", is_superuser=True)
    user = MemberFactory(username="ivy")
    for _ in range(2):
        post_login(client, "ivy", "bad")
    services.unlock_account(actor=admin, user=user)
    assert post_login(client, "ivy", PASSWORD).status_code == 302
    unlock = AuditEvent.objects.get(action="user.unlocked")
    assert unlock.actor_name == "root-admin" and unlock.resource_id == str(user.pk)
    assert unlock.changes == {"locked": {"before": True, "after": False}}
    assert AuthEvent.objects.filter(event="account.unlocked", user_id=str(user.pk)).exists()


@pytest.mark.django_db(transaction=True)
def test_twenty_parallel_wrong_attempts_lock_after_exactly_the_limit(on_postgres, settings):
    limit = settings.SIGNIN["MAX_FAILURES"]
    MemberFactory(username="jules")
    barrier = threading.Barrier(20)
    outcomes = []

    def attempt(i):
        request = RequestFactory().post("/accounts/login/", REMOTE_ADDR=f"10.9.0.{i + 1}")
        request.client_ip = request.META["REMOTE_ADDR"]
        try:
            barrier.wait()
            outcomes.append(services.sign_in(request, "jules", "wrong-password").reason)
        finally:
            connection.close()

    threads = [threading.Thread(target=attempt, args=(i,)) for i in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    assert sorted(outcomes).count("bad_password") == limit
    assert outcomes.count("locked") == 20 - limit
    assert AuthEvent.objects.filter(event="account.locked").count() == 1
    request = RequestFactory().post("/accounts/login/")
    assert services.sign_in(request, "jules", PASSWORD).failure == services.LOCKED
    assert User.objects.get(username="jules").last_login is None


@pytest.mark.django_db
def test_failures_by_username_and_email_share_one_count_and_one_lock(client, settings):
    settings.SIGNIN = {**settings.SIGNIN, "MAX_FAILURES": 4}
    MemberFactory(username="kira", email="Kira@Example.com")
    for typed in ("kira", "kira@example.com", "KIRA", "KIRA@EXAMPLE.COM"):
        post_login(client, typed, "bad", REMOTE_ADDR="192.0.2.60")
    assert AuthEvent.objects.filter(event="account.locked").count() == 1
    # Locked whichever name is typed, even with the right password.
    for typed in ("kira", "kira@example.com"):
        response = post_login(client, typed, PASSWORD, REMOTE_ADDR="192.0.2.61")
        assert "Too many failed sign-in attempts" in response.content.decode()
    assert AuthEvent.objects.filter(event="login.failed", failure_reason="locked").count() == 2


@pytest.mark.django_db
def test_unknown_identifiers_are_throttled_each_on_their_own(client, settings):
    settings.SIGNIN = {**settings.SIGNIN, "MAX_FAILURES": 2}
    user = MemberFactory(username="lena", email="lena@example.com")
    for _ in range(2):
        post_login(client, "ghost@example.com", "bad", REMOTE_ADDR="192.0.2.70")
    response = post_login(client, "ghost@example.com", "bad", REMOTE_ADDR="192.0.2.71")
    assert "Too many failed sign-in attempts" in response.content.decode()  # as a real account
    # Another unknown name, and the real account, are not locked by the ghost's failures.
    assert AuthEvent.objects.filter(event="account.locked").count() == 1
    post_login(client, "ghost2@example.com", "bad", REMOTE_ADDR="192.0.2.72")
    assert AuthEvent.objects.filter(username_attempted="ghost2@example.com",
                                    failure_reason="unknown_user").exists()
    assert post_login(client, "lena@example.com", PASSWORD,
                      REMOTE_ADDR="192.0.2.73").status_code == 302
    # An unlock clears the account's one counter.
    client.post("/accounts/logout/")
    for typed in ("lena", "LENA@example.com"):
        post_login(client, typed, "bad", REMOTE_ADDR="192.0.2.74")
    services.unlock_account(actor=user, user=user)
    assert post_login(client, "lena", PASSWORD, REMOTE_ADDR="192.0.2.75").status_code == 302
