"""Usage by key (the gateway's public lookup) and usage stats (scoped to the caller)."""

import random
from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from accounts.models import ApiKey
from logcenter.analytics import stats
from tests.factories import MemberFactory, StaffFactory, UsageRecordFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def api():
    """A client from an address of its own: the throttle counts per IP in a cache that
    parallel test workers share."""
    return APIClient(REMOTE_ADDR=f"10.{random.randint(0, 255)}.{random.randint(0, 255)}."
                                 f"{random.randint(1, 254)}")


@pytest.fixture
def keyed_rows():
    owner = MemberFactory(username="keyholder")
    key, secret = ApiKey.generate(owner=owner, name="gateway", scopes=["read"])
    mine = [UsageRecordFactory(api_key_id=key.prefix, api_key_name=key.name,
                               occurred_at=timezone.now() - timedelta(minutes=i))
            for i in range(5)]
    UsageRecordFactory.create_batch(3)  # other keys
    return key, secret, mine


def test_by_key_with_header_returns_newest_first_without_echoing_the_key(api, keyed_rows):
    key, secret, mine = keyed_rows
    response = api.get("/api/v1/usage-records/by-key/", HTTP_AUTHORIZATION=f"Bearer {secret}",
                       HTTP_ORIGIN="https://gateway.example")
    assert response.status_code == 200
    body = response.json()
    assert [r["event_id"] for r in body["results"]] == [str(r.event_id) for r in mine]
    assert secret not in response.content.decode()
    assert response["Access-Control-Allow-Origin"] == "*"


def test_by_key_with_query_parameter_and_limit(api, keyed_rows):
    _, secret, mine = keyed_rows
    body = api.get(f"/api/v1/usage-records/by-key/?key={secret}&limit=2").json()
    assert [r["event_id"] for r in body["results"]] == [str(r.event_id) for r in mine[:2]]
    assert api.get(f"/api/v1/usage-records/by-key/?key={secret}&limit=5000").status_code == 400


def test_by_key_unknown_key_is_401_and_rate_limited(api, keyed_rows):
    assert api.get("/api/v1/usage-records/by-key/?key=lc_guess").status_code == 401
    assert api.get("/api/v1/usage-records/by-key/").status_code == 401
    statuses = [api.get("/api/v1/usage-records/by-key/?key=lc_guess").status_code
                for _ in range(70)]
    assert 429 in statuses


def test_stats_totals_and_rates_for_a_member_are_their_own():
    member = MemberFactory(username="stats-member")
    UsageRecordFactory(user_id=str(member.pk), cost=Decimal("1.5"), quota=10, total_tokens=100,
                       prompt_tokens=60, completion_tokens=40,
                       occurred_at=timezone.now() - timedelta(seconds=10))
    UsageRecordFactory(user_id=str(member.pk), cost=Decimal("0.5"), quota=5, total_tokens=50,
                       prompt_tokens=30, completion_tokens=20,
                       occurred_at=timezone.now() - timedelta(hours=2))
    UsageRecordFactory(user_id="someone-else", cost=Decimal("100"), total_tokens=999)
    api = APIClient()
    api.force_authenticate(member)
    stats = api.get("/api/v1/usage/stats/").json()
    assert stats["requests"] == 2 and stats["cost"] == "2.00000000" and stats["quota"] == 15
    assert stats["prompt_tokens"] == 90 and stats["completion_tokens"] == 60
    assert stats["rpm"] == 1 and stats["tpm"] == 100

    admin = StaffFactory(username="stats-admin")
    api.force_authenticate(admin)
    assert api.get("/api/v1/usage/stats/").json()["requests"] == 3
    assert api.get("/api/v1/usage/stats/?cost_min=5&cost_max=1").status_code == 400


def test_usage_page_shows_rates_and_quota(client):
    member = MemberFactory(username="page-member")
    UsageRecordFactory(user_id=str(member.pk), quota=1234, total_tokens=77,
                       occurred_at=timezone.now() - timedelta(seconds=5))
    client.force_login(member)
    html = client.get("/logs/usage/panels/").content.decode()
    assert "1 rpm" in html and "77 tokens per minute" in html and "1,234 quota" in html


def test_rates_past_the_sample_are_the_newest_calls_rate_and_say_so(monkeypatch, staff_client):
    """rpm/tpm count the last minute's calls; past LATEST_SAMPLE of them, they are the rate of
    the newest LATEST_SAMPLE + 1 over the seconds those span, per minute, and say so (the
    API's `rates_sampled`, the panel's "≈" and its title)."""
    now = timezone.now()
    for seconds in (1, 3, 5, 7, 50):  # the newest four span 6 s (each 10 tokens)
        UsageRecordFactory(total_tokens=10, occurred_at=now - timedelta(seconds=seconds))
    api = APIClient()
    api.force_authenticate(StaffFactory(username="rates-admin"))
    counted = api.get("/api/v1/usage/stats/").json()
    assert (counted["rpm"], counted["tpm"], counted["rates_sampled"]) == (5, 50, False)
    # The panel reads them with its p95 (the newest calls, one read): the same figures.
    html = staff_client.get("/logs/usage/panels/").content.decode()
    assert "5 rpm" in html and "50 tokens per minute" in html and "≈" not in html
    monkeypatch.setattr(stats, "LATEST_SAMPLE", 3)
    sampled = api.get("/api/v1/usage/stats/").json()
    assert sampled["rates_sampled"] is True
    # 4 calls over the ~7 s back to the oldest of them: about 34 a minute, 340 tokens.
    assert 30 <= sampled["rpm"] <= 40 and sampled["tpm"] == pytest.approx(
        sampled["rpm"] * 10, abs=10)
    html = staff_client.get("/logs/usage/panels/").content.decode()
    assert "≈" in html and "The rate of the newest 3 calls" in html
    shown = int(html.split("≈ ")[1].split(" rpm")[0])
    assert abs(shown - sampled["rpm"]) <= 1


def test_a_panel_over_a_past_window_still_shows_the_last_minutes_rates(staff_client):
    """Rates are "right now" whatever the window: where the window ends before now, its
    newest calls are not the last minute's, and the rates are read apart."""
    now = timezone.now()
    UsageRecordFactory(total_tokens=7, occurred_at=now - timedelta(seconds=5))
    UsageRecordFactory(total_tokens=900, latency_ms=4321, occurred_at=now - timedelta(hours=3))
    start, end = (timezone.localtime(now - timedelta(hours=h)).strftime("%Y-%m-%dT%H:%M")
                  for h in (4, 2))
    html = staff_client.get("/logs/usage/panels/",
                            {"start_time": start, "end_time": end}).content.decode()
    assert "1 rpm" in html and "7 tokens per minute" in html  # the last minute's call
    assert "4,321 ms" in html  # the window's own call's p95
