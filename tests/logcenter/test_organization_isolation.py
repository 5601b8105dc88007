"""Organizations on the faces beyond the list and the detail (test_access_matrix has those):
stats, buckets, panels, the by-key lookup, suggestions and saved views agree with the one
rule (logcenter.core.access); plan windows on reads; plan-gated exports."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from accounts.models import ApiKey, User
from logcenter.analytics.known_values import known_values_refresh
from logcenter.core.registry import registry
from logcenter.core.saved_views import saved_view_create
from tests.factories import (AuditEventFactory, MemberFactory, MembershipFactory,
                             OrganizationFactory, ProjectFactory, StaffFactory,
                             UsageRecordFactory, plan)

pytestmark = pytest.mark.django_db

ORGANIZATION_ROLES = ("owner", "admin", "auditor", "member")


def api_for(user):
    api = APIClient()
    api.force_authenticate(user)
    return api


@pytest.fixture
def usage(db):
    """Organization A: a user per role, the member with two calls of model-a and the admin
    one; organization B: an admin with a call of model-b; one platform call of model-p."""
    first, second = OrganizationFactory(slug="org-a"), OrganizationFactory(slug="org-b")
    users = {role: MembershipFactory(organization=first, role=role,
                                     user__username=f"a-{role}").user
             for role in ORGANIZATION_ROLES}
    users["b-admin"] = MembershipFactory(organization=second, role="admin",
                                         user__username="b-admin").user
    users["staff"] = StaffFactory(username="platform-staff")
    recent = timezone.now() - timedelta(hours=2)

    def call(user, organization, model, key):
        return UsageRecordFactory(
            user_id=str(user.pk), username=user.username, platform_model=model,
            api_key_id=key, occurred_at=recent, cost=Decimal("1.5"),
            organization_id=organization.public_id if organization else "")

    rows = [call(users["member"], first, "model-a", "lc_akey00001"),
            call(users["member"], first, "model-a", "lc_akey00001"),
            call(users["admin"], first, "model-a2", "lc_akey00002"),
            call(users["b-admin"], second, "model-b", "lc_bkey00001"),
            call(users["staff"], None, "model-p", "lc_pkey00001")]
    return users, (first, second), rows


# Requests each user's figures count: A's readers A's three calls, A's member their two,
# B's admin one, the staff all five.
REQUESTS = {"owner": 3, "admin": 3, "auditor": 3, "member": 2, "b-admin": 1, "staff": 5}
MODELS = {"owner": {"model-a", "model-a2"}, "admin": {"model-a", "model-a2"},
          "auditor": {"model-a", "model-a2"}, "member": {"model-a"}, "b-admin": {"model-b"},
          "staff": {"model-a", "model-a2", "model-b", "model-p"}}


@pytest.mark.parametrize("who", REQUESTS)
def test_stats_and_buckets_count_only_the_visible_rows(usage, who):
    users, _, _ = usage
    api = api_for(users[who])
    stats = api.get("/api/v1/usage/stats/?range=24h")
    assert stats.status_code == 200, stats.json()
    assert stats.json()["requests"] == REQUESTS[who]
    assert Decimal(stats.json()["cost"]) == Decimal("1.5") * REQUESTS[who]
    buckets = api.get("/api/v1/usage/buckets/?bucket_width=1h&range=24h&group_by=model")
    assert buckets.status_code == 200, buckets.json()
    seen = {row["model"] for bucket in buckets.json()["data"] for row in bucket["results"]
            if row["requests"]}
    assert seen == MODELS[who]


def test_an_organization_read_does_not_use_the_platform_wide_rollups(usage):
    """An organization's figures come from a rollup holding organization_id, or from its
    raw rows: never from sums over every organization, even over whole hours a rollup
    answers for the staff."""
    from logcenter.analytics import stats

    users, _, _ = usage
    assert stats.parse(users["staff"], {"range": "7d"}).rollup is not None
    for who in ("owner", "admin", "auditor", "member", "b-admin"):
        rollup = stats.parse(users[who], {"range": "7d"}).rollup
        assert rollup is None or "organization_id" in rollup.DIMENSIONS, who
    member = MemberFactory(username="platform-member")  # no organization: their rollup rows
    assert stats.parse(member, {"range": "7d"}).rollup is not None


@pytest.mark.parametrize("who", ["admin", "member", "b-admin", "staff"])
def test_panels_show_only_the_visible_models(client, usage, who):
    users, _, _ = usage
    client.force_login(users[who])
    html = client.get("/logs/usage/panels/?range=24h").content.decode()
    for model in MODELS["staff"]:
        assert (model in html) == (model in MODELS[who]), model


def test_event_charts_count_only_the_organizations_rows(usage):
    from logcenter.analytics import charts
    from tests.factories import AuthEventFactory

    users, (first, second), _ = usage
    an_hour_ago = timezone.now() - timedelta(hours=1)
    for organization, count in ((first, 2), (second, 5)):
        for _ in range(count):
            AuthEventFactory(event="login.failed", organization_id=organization.public_id,
                             user_id=str(users["admin"].pk), occurred_at=an_hour_ago)
    chart = charts.event_panels("auth", users["admin"], {"range": "24h"})["chart"]
    assert "login.failed: 2 (" in chart
    staff_chart = charts.event_panels("auth", users["staff"], {"range": "24h"})["chart"]
    assert "login.failed: 7 (" in staff_chart


def test_the_by_key_lookup_of_a_customers_key_holds_its_organizations_rows(usage):
    users, (first, second), _ = usage
    key, secret = ApiKey.generate(owner=users["admin"], name="customer", scopes=["read"],
                                  project=first.default_project)
    mine = UsageRecordFactory(api_key_id=key.prefix, organization_id=first.public_id)
    UsageRecordFactory(api_key_id=key.prefix, organization_id=second.public_id)
    UsageRecordFactory(api_key_id=key.prefix, organization_id=first.public_id,
                       occurred_at=timezone.now() - timedelta(days=91))  # past Pro's 90 days
    answer = APIClient().get("/api/v1/usage-records/by-key/",
                             HTTP_AUTHORIZATION=f"Bearer {secret}")
    assert answer.status_code == 200
    assert [r["event_id"] for r in answer.json()["results"]] == [str(mine.event_id)]
    # A platform key's lookup is as it was: every row of the key.
    platform, platform_secret = ApiKey.generate(owner=users["staff"], name="gateway",
                                                scopes=["read"])
    UsageRecordFactory(api_key_id=platform.prefix, organization_id=second.public_id)
    UsageRecordFactory(api_key_id=platform.prefix)
    answer = APIClient().get("/api/v1/usage-records/by-key/",
                             HTTP_AUTHORIZATION=f"Bearer {platform_secret}")
    assert len(answer.json()["results"]) == 2


def test_suggestions_never_name_another_organizations_values(usage):
    users, _, _ = usage
    known_values_refresh()
    path = "/api/v1/usage-records/suggestions/?field=platform_model"
    staff_values = [r["value"] for r in api_for(users["staff"]).get(path).json()["results"]]
    assert {"model-a", "model-b", "model-p"} <= set(staff_values)
    for who in ("admin", "member", "b-admin"):
        answer = api_for(users[who]).get(path)
        assert answer.status_code == 200
        # Values of the rows they may see, or nothing when the rollup they would be read
        # from has no organization; never another organization's.
        assert {r["value"] for r in answer.json()["results"]} <= MODELS[who], who
    # Choices are no one's data: offered to everyone who may filter by them.
    choices = api_for(users["member"]).get("/api/v1/usage-records/suggestions/?field=endpoint")
    assert choices.json()["results"]


def test_a_view_shared_with_a_role_stays_in_its_organization(usage):
    users, _, _ = usage
    kind = registry["usage"]
    view = saved_view_create(user=users["member"], kind=kind, name="A's calls",
                             params={"platform_model": "model-a"}, role="Member")
    b_member = MembershipFactory(organization=users["b-admin"].membership.organization,
                                 user__username="b-member").user
    path = f"/api/v1/usage-records/?view={view.pk}"
    assert api_for(users["member"]).get(path).status_code == 200
    refused = api_for(b_member).get(path)
    assert refused.status_code == 400 and "view" in refused.json()
    listed = api_for(b_member).get("/api/v1/views/?kind=usage")
    assert listed.status_code == 200
    assert view.pk not in {v["id"] for v in listed.json()["results"]}
    platform_member = MemberFactory(username="platform-member")
    assert api_for(platform_member).get(path).status_code == 400


# --- plan windows on reads ----------------------------------------------------------------

def test_a_row_just_outside_the_plan_window_is_invisible_until_an_upgrade(client, usage):
    users, (first, _), _ = usage
    admin = users["admin"]
    now = timezone.now()
    inside = AuditEventFactory(organization_id=first.public_id,
                               occurred_at=now - timedelta(days=90) + timedelta(minutes=5))
    outside = AuditEventFactory(organization_id=first.public_id,
                                occurred_at=now - timedelta(days=90) - timedelta(minutes=5))
    old_call = UsageRecordFactory(organization_id=first.public_id, user_id=str(admin.pk),
                                  occurred_at=now - timedelta(days=100), cost=Decimal("7"))
    api = api_for(admin)

    def listed():
        return {r["event_id"] for r in api.get(
            "/api/v1/audit-events/?range=all&page_size=200").json()["results"]}

    def stats():
        start = (now - timedelta(days=120)).isoformat()
        return api.get("/api/v1/usage/stats/", {"start_time": start}).json()["requests"]

    assert str(inside.event_id) in listed() and str(outside.event_id) not in listed()
    assert api.get(f"/api/v1/audit-events/{outside.event_id}/").status_code == 404
    client.force_login(admin)
    assert client.get(outside.get_absolute_url()).status_code == 404
    assert stats() == 3  # the call of 100 days ago is not counted

    first.plan = plan("business")  # 365 days: at once, on the next read
    first.save()
    api.force_authenticate(User.objects.get(pk=admin.pk))  # a request's user is read afresh
    assert str(outside.event_id) in listed()
    assert api.get(f"/api/v1/audit-events/{outside.event_id}/").status_code == 200
    assert client.get(outside.get_absolute_url()).status_code == 200
    assert stats() == 4
    assert old_call.organization_id == first.public_id
    # The staff, outside any plan, saw every row all along.
    staff_rows = {r["event_id"] for r in api_for(users["staff"]).get(
        "/api/v1/audit-events/?range=all&page_size=200").json()["results"]}
    assert {str(inside.event_id), str(outside.event_id)} <= staff_rows


def test_the_plan_window_bounds_the_exports_rows_and_says_so(usage, settings, tmp_path):
    from logcenter.exports import jobs as exports

    settings.MEDIA_ROOT = tmp_path
    users, (first, _), _ = usage
    old = AuditEventFactory(organization_id=first.public_id,
                            occurred_at=timezone.now() - timedelta(days=95))
    fresh = AuditEventFactory(organization_id=first.public_id)
    job = exports.export_create(user=users["auditor"], kind_slug="audit", fmt="json",
                                params={"range": "all"})
    job.refresh_from_db()
    text = (exports.export_dir() / job.file_name).read_text()
    assert str(fresh.event_id) in text and str(old.event_id) not in text
    assert job.window_start is not None
    assert timezone.now() - job.window_start < timedelta(days=90, minutes=5)


# --- plan-gated exports -------------------------------------------------------------------

def test_a_free_organizations_auditor_gets_a_403_naming_the_plan(client, usage):
    users, (first, _), _ = usage
    first.plan = plan("free")
    first.save()
    auditor = User.objects.get(pk=users["auditor"].pk)
    answer = api_for(auditor).post("/api/v1/exports/", {"kind": "audit", "format": "csv"},
                                   format="json")
    assert answer.status_code == 403
    assert "The Free plan does not include exports" in answer.json()["detail"]
    translated = api_for(auditor).post("/api/v1/exports/", {"kind": "audit", "format": "csv"},
                                       format="json", HTTP_ACCEPT_LANGUAGE="zh-hans")
    assert translated.status_code == 403 and "Free" in translated.json()["detail"]
    assert "does not include" not in translated.json()["detail"]
    # The page: the Export button's answer is a message on the list, not an error page.
    client.force_login(auditor)
    page = client.post("/logs/audit/export/", {"format": "csv"}, follow=True)
    assert page.status_code == 200
    assert "The Free plan does not include exports" in page.content.decode()


def test_a_plan_allows_only_its_formats_and_a_member_never_exports(usage):
    users, _, _ = usage
    api = api_for(users["auditor"])  # Pro: csv and json
    refused = api.post("/api/v1/exports/", {"kind": "usage", "format": "ndjson"}, format="json")
    assert refused.status_code == 403
    assert refused.json()["detail"] == ("The Pro plan does not include NDJSON exports; it "
                                        "includes: CSV, JSON.")
    assert api.post("/api/v1/exports/", {"kind": "usage", "format": "json"},
                    format="json").status_code == 202
    member = api_for(users["member"]).post("/api/v1/exports/", {"kind": "usage",
                                                                "format": "csv"}, format="json")
    assert member.status_code == 403 and "role" in member.json()["detail"]


def test_a_downgrade_stops_the_download_of_an_earlier_export(usage, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    users, (first, _), _ = usage
    api = api_for(users["owner"])
    job = api.post("/api/v1/exports/", {"kind": "usage", "format": "csv"}, format="json")
    assert job.status_code == 202 and job.json()["status"] == "completed"
    first.plan = plan("basic")
    first.save()
    api.force_authenticate(User.objects.get(pk=users["owner"].pk))
    download = api.get(job.json()["download_url"])
    assert download.status_code == 403 and "Basic plan" in download.json()["detail"]


# --- projects -------------------------------------------------------------------------------

def test_staff_filter_by_project(usage):
    users, (first, _), _ = usage
    project = ProjectFactory(organization=first, slug="batch")
    row = UsageRecordFactory(organization_id=first.public_id, project_id=project.public_id)
    answer = api_for(users["staff"]).get(
        f"/api/v1/usage-records/?range=all&project_id={project.public_id}")
    assert [r["event_id"] for r in answer.json()["results"]] == [str(row.event_id)]
    assert answer.json()["results"][0]["project_id"] == project.public_id
    excluded = api_for(users["admin"]).get(
        f"/api/v1/usage-records/?range=24h&exclude_project_id={project.public_id}")
    assert str(row.event_id) not in {r["event_id"] for r in excluded.json()["results"]}
