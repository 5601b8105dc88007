"""Retention per plan: each organization's rows past its plan's window are purged, kind by
kind, in batches, on record (verification stays green) and out of the usage figures; an
organization's legal hold stops every purge of its rows; the database refuses the app role
a younger row whatever it asks."""

from datetime import timedelta

import pytest
from django.db import DatabaseError, connection, transaction
from django.utils import timezone

from accounts.models import Organization, Plan
from logcenter.analytics.rollups import rollup_rebuild
from logcenter.engines.postgres import db_roles
from logcenter.integrity import sealing, verification
from logcenter.integrity.models import RemovalRecord
from logcenter.core.registry import registry
from logcenter.models import AuditEvent, AuthEvent, RetentionPolicy, UsageRecord
from logcenter.retention import purge as retention
from tests.factories import FACTORIES
from tests.logcenter.test_stats import snapshot

pytestmark = pytest.mark.django_db


def days_ago(n):
    return timezone.now() - timedelta(days=n)


def organization(slug, retention_days, legal_hold=False):
    plan = Plan.objects.create(slug=f"plan-{slug}", name=slug, retention_days=retention_days)
    return Organization.objects.create(name=slug, slug=slug, plan=plan, legal_hold=legal_hold)


def rows(kind, n, org, days):
    """n rows a second apart, `days` old, of `org` (None: the platform's)."""
    at = days_ago(days)
    return [FACTORIES[kind](occurred_at=at - timedelta(seconds=i),
                            organization_id=org.public_id if org else "") for i in range(n)]


def test_each_organizations_rows_past_its_plans_window_go_kind_by_kind():
    week = organization("week", {"usage": 7, "audit": 7})  # auth: without limit
    month = organization("month", {"usage": 30})
    gone_usage = rows("usage", 5, week, 8)
    gone_audit = rows("audit", 1, week, 8)
    kept = [*rows("usage", 2, week, 6), *rows("auth", 1, week, 60),
            *rows("usage", 2, month, 8), *rows("usage", 1, None, 8)]
    sealing.seal(settle=0, wait=5, block_rows=3)  # blocks mix removed and kept rows
    report = retention.retention_purge(batch_size=2)
    assert report.organizations == {week.public_id: {"usage": 5, "audit": 1}}
    assert report.finished
    assert not UsageRecord.objects.filter(pk__in=[r.pk for r in gone_usage]).exists()
    assert not AuditEvent.objects.filter(pk__in=[r.pk for r in gone_audit]).exists()
    for row in kept:
        assert type(row).objects.filter(pk=row.pk).exists()
    # Three batches of at most two usage rows, each on record, and verification is green.
    records = RemovalRecord.objects.filter(kind="usage").order_by("seq")
    assert [r.row_count for r in records] == [2, 2, 1]
    assert all(week.public_id in r.reason for r in records)
    for kind in registry:
        result = verification.verify_kind(kind)
        assert result.ok, result.summary()
    # Nothing is left for a second run.
    assert retention.retention_purge().organizations == {}


def test_usage_figures_drop_what_organizations_purges_removed():
    week = organization("figures", {"usage": 7})
    same_plan = Organization.objects.create(name="same", slug="same", plan=week.plan)
    month = organization("figures-month", {"usage": 30})
    rows("usage", 3, week, 8)
    rows("usage", 2, same_plan, 9)
    rows("usage", 2, month, 31)
    rows("usage", 2, None, 8)  # the same hours, the platform's own: summed again too
    rows("usage", 1, week, 1)
    report = retention.retention_purge()
    assert sum(sum(kinds.values()) for kinds in report.organizations.values()) == 7
    after_purge = snapshot()
    rollup_rebuild()  # from the raw rows
    assert snapshot() == after_purge
    assert sum(r[-3] for r in after_purge["UsageHourly"]) == 3


def test_an_organizations_legal_hold_stops_every_purge_of_its_rows(staff):
    held = organization("held", {"usage": 7, "auth": 7}, legal_hold=True)
    free = organization("free-rows", {"auth": 7})
    held_rows = [*rows("usage", 2, held, 100), *rows("auth", 1, held, 100)]
    others = rows("auth", 1, free, 100) + rows("auth", 1, None, 100)
    report = retention.retention_purge()
    assert held.public_id in report.organizations_held
    for row in held_rows:  # past the plan and the platform's 90 days, and kept
        assert type(row).objects.filter(pk=row.pk).exists()
    assert not AuthEvent.objects.filter(pk__in=[r.pk for r in others]).exists()
    # A deletion job leaves them too.
    retention.policy_update(actor=staff, kind_slug="auth", days=30, legal_hold=False)
    job = retention.deletion_request(actor=staff, kind_slug="auth", before=days_ago(50))
    job.refresh_from_db()
    assert job.status == "completed" and job.estimated_total == 0
    assert AuthEvent.objects.filter(organization_id=held.public_id).count() == 1
    # Lifted: the next run takes them.
    Organization.objects.filter(pk=held.pk).update(legal_hold=False)
    retention.retention_purge()
    assert not UsageRecord.objects.filter(organization_id=held.public_id).exists()


def test_a_month_holding_a_held_organizations_rows_is_not_dropped(on_postgres):
    from logcenter.engines.postgres import partitions

    old = timezone.now() - timedelta(days=200)
    partitions.ensure_usage_partitions(old, old)
    held = organization("held-month", {}, legal_hold=True)
    kept = FACTORIES["usage"](occurred_at=old, organization_id=held.public_id)
    gone = FACTORIES["usage"](occurred_at=old)
    report = retention.retention_purge()
    assert partitions.partition_name(partitions.month_start(old)) not in \
        report.partitions_dropped
    assert UsageRecord.objects.filter(pk=kept.pk).exists()
    assert not UsageRecord.objects.filter(pk=gone.pk).exists()  # purged row by row


def refused(statement, params):
    with pytest.raises(DatabaseError) as caught, transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute(statement, params)
    return str(caught.value)


def test_the_app_role_cannot_purge_an_organizations_younger_rows(on_postgres):
    if not db_roles.split_roles():
        pytest.skip("needs two database roles (MIGRATION_DATABASE_URL)")
    # The platform policy is stored when first read, as the purge reads it (a flushed test
    # database has none until then): the function then judges the plan alone.
    RetentionPolicy.for_kind("usage")
    week = organization("db-week", {"usage": 7})
    unlimited = organization("db-unlimited", {})
    held = organization("db-held", {"usage": 7}, legal_hold=True)
    young = rows("usage", 1, week, 3)[0]
    call = "SELECT logcenter_purge_organization('logcenter_usagerecord', %s, %s, 100)"
    assert "not expired" in refused(call, [week.public_id, days_ago(1)])
    assert "without limit" in refused(call, [unlimited.public_id, days_ago(400)])
    assert "legal hold" in refused(call, [held.public_id, days_ago(400)])
    assert "no organization" in refused(call, ["org_nobody", days_ago(400)])
    assert "not a log table" in refused(
        "SELECT logcenter_purge_organization('auth_user', %s, %s, 100)",
        [week.public_id, days_ago(400)])
    assert UsageRecord.objects.filter(pk=young.pk).exists()
    assert "permission denied" in refused("DELETE FROM logcenter_usagerecord WHERE id = %s",
                                          [young.pk])
