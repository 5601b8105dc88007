"""Usage by organization and project: the rollups that hold them equal the raw rows, an
organization's figures are read from rollups and equal its raw rows, buckets group by
organization and project, and the staff's panels rank organizations."""

import random
from datetime import timedelta
from decimal import Decimal

import pytest
from django.http import QueryDict
from django.utils import timezone

from logcenter.analytics import charts, stats
from logcenter.analytics.rollups import rollup_rebuild
from logcenter.models import UsageHourly, UsageHourlyByOrganization
from tests.factories import MembershipFactory, OrganizationFactory, UsageRecordFactory
from tests.logcenter.test_stats import snapshot

pytestmark = pytest.mark.django_db


def customers_rows(rng, organizations, n, days=3):
    """n calls spread over `days`, each of one of the organizations' projects (or, for
    None, the platform's own), models and statuses."""
    now = timezone.now()
    for _ in range(n):
        org = rng.choice(organizations)
        project = rng.choice(list(org.projects.all())) if org else None
        UsageRecordFactory(
            occurred_at=now - timedelta(seconds=rng.randint(0, days * 86400)),
            organization_id=org.public_id if org else "",
            project_id=project.public_id if project else "",
            platform_model=rng.choice(["gpt-4o", "qwen-max"]),
            status=rng.choice(["success", "success", "error"]),
            cost=Decimal(rng.randint(0, 10**7)) / Decimal(10**8),
            prompt_tokens=rng.randint(0, 5000), latency_ms=rng.randint(10, 9000))


@pytest.fixture
def organizations():
    first, second = OrganizationFactory(plan="enterprise"), OrganizationFactory(plan="free")
    first.projects.create(name="Search", slug="search")
    return [first, second, None]


def test_the_organization_rollups_are_kept_current_and_equal_a_rebuild(organizations):
    customers_rows(random.Random(3), organizations, 40)
    live = snapshot()
    rollup_rebuild()
    assert snapshot() == live
    assert sum(r[-3] for r in live["UsageHourlyByOrganization"]) == 40


def test_organization_queries_read_the_organization_rollups(staff, organizations):
    org = organizations[0].public_id
    assert stats.parse(staff, {}, group_by="organization").rollup is UsageHourlyByOrganization
    assert stats.parse(staff, {}, group_by="organization,project").rollup \
        is UsageHourlyByOrganization
    assert stats.parse(staff, {"organization_id": org}, group_by="status").rollup \
        is UsageHourlyByOrganization
    assert stats.parse(staff, {"project_id": "p"}, group_by="model").rollup is UsageHourly
    admin = MembershipFactory(organization=organizations[0], role="admin").user
    assert stats.parse(admin, {}).rollup is UsageHourlyByOrganization  # its figures
    assert stats.parse(admin, {}, group_by="status").rollup is UsageHourlyByOrganization
    assert stats.parse(admin, {}, group_by="model").rollup is UsageHourly  # its charts


@pytest.mark.parametrize("seed", range(3))
def test_organization_figures_equal_the_raw_rows(seed, staff, organizations):
    rng = random.Random(seed)
    customers_rows(rng, organizations, 60)
    admins = [MembershipFactory(organization=org, role=role).user
              for org, role in ((organizations[0], "admin"), (organizations[1], "auditor"))]
    now = timezone.now()
    for _ in range(4):
        start = now - timedelta(seconds=rng.randint(3600, 3 * 86400))
        params = {"start_time": start.isoformat()}
        if rng.random() < 0.5:
            params["end_time"] = min(start + timedelta(hours=rng.randint(2, 40)), now).isoformat()
        for user, group_by in ((staff, "organization,project"), (staff, "project,model"),
                               (admins[0], ""), (admins[0], "model"), (admins[1], "status"),
                               (admins[1], "project")):
            query = stats.parse(user, params, group_by=group_by)
            assert query.rollup_ok
            raw = stats.parse(user, params, group_by=group_by)
            key = lambda r: repr(sorted(r.items()))  # noqa: E731
            assert sorted(stats.totals(query), key=key) == \
                sorted(stats.totals(raw, source="raw"), key=key)
            assert stats.buckets(query, "1h") == stats.buckets(raw, "1h", source="raw")


def test_an_organization_sees_only_its_own_figures(organizations):
    customers_rows(random.Random(7), organizations, 30)
    org = organizations[0]
    admin = MembershipFactory(organization=org, role="owner").user
    figures = stats.totals(stats.parse(admin, {"range": "7d"}, group_by="organization"))
    assert [row["organization"] for row in figures] == [org.public_id]
    from logcenter.models import UsageRecord

    assert figures[0]["requests"] == UsageRecord.objects.filter(
        organization_id=org.public_id).count()


def test_buckets_group_by_organization_and_project(api_client, organizations):
    customers_rows(random.Random(5), organizations, 30, days=1)
    body = api_client.get("/api/v1/usage/buckets/", {
        "bucket_width": "1d", "range": "7d", "group_by": "organization,project"}).json()
    results = [r for bucket in body["data"] for r in bucket["results"]]
    assert {(r["organization"], r["project"]) for r in results} <= {
        (o.public_id if o else "", p.public_id if p else "")
        for o in organizations for p in (o.projects.all() if o else [None])}
    assert sum(r["requests"] for r in results) == 30
    bad = api_client.get("/api/v1/usage/buckets/", {"group_by": "organisation"})
    assert bad.status_code == 400 and "group_by" in bad.json()


def test_the_staffs_panels_rank_organizations_and_a_customers_do_not(staff, organizations):
    customers_rows(random.Random(9), organizations, 20, days=1)
    top = charts.usage_panels(staff, QueryDict("range=7d"))["top"]
    named = {row["organization"]: row["organization_name"] for row in top["organization"]}
    assert named[organizations[0].public_id] == organizations[0].name
    assert sum(row["requests"] for row in top["organization"]) == 20
    admin = MembershipFactory(organization=organizations[0], role="admin").user
    assert "organization" not in charts.usage_panels(admin, QueryDict("range=7d"))["top"]
