"""Retention policies, legal holds, "delete history" jobs and the append-only trigger."""

from datetime import timedelta
from datetime import timezone as dt_timezone

import pytest
from django.db import connection, transaction
from django.db.utils import DatabaseError
from django.utils import timezone

from logcenter.retention import purge as retention
from logcenter.models import (AuditEvent, AuthEvent, DeletionJob, RetentionPolicy,
                              SystemEvent, UsageRecord)
from logcenter.core.registry import registry
from tests.factories import FACTORIES, MemberFactory

pytestmark = pytest.mark.django_db


def days_ago(n):
    return timezone.now() - timedelta(days=n)


def test_default_policies():
    # Created by a migration, and again on first use if missing.
    assert {k: RetentionPolicy.for_kind(k).days for k in ("audit", "usage", "auth", "system")} \
        == {"audit": 365, "usage": 90, "auth": 90, "system": 30}


def test_purge_deletes_only_expired_rows_in_batches_and_reports(settings):
    old = FACTORIES["usage"].create_batch(7, occurred_at=days_ago(91))
    kept = FACTORIES["usage"](occurred_at=days_ago(89))
    FACTORIES["system"](occurred_at=days_ago(31))
    report = retention.retention_purge(batch_size=3)
    assert report.deleted["usage"] == 7 and report.deleted["system"] == 1 and report.finished
    assert list(UsageRecord.objects.values_list("pk", flat=True)) == [kept.pk]
    assert not UsageRecord.objects.filter(pk__in=[o.pk for o in old]).exists()
    event = SystemEvent.objects.filter(event="retention.purged").latest("id")
    assert event.details["deleted"]["usage"] == 7


def expired_in_the_cutoffs_month(days):
    """A time just past a `days` policy, in the month that holds the cutoff: that month's
    partition is not wholly expired, so its rows are purged one batch at a time (a month
    that is wholly expired is dropped at once, whatever the budget)."""
    cutoff = days_ago(days)
    month_start = cutoff.astimezone(dt_timezone.utc).replace(
        day=1, hour=0, minute=0, second=0, microsecond=0)
    return max(cutoff - timedelta(hours=1), month_start)


def test_time_budget_stops_a_purge_and_says_so():
    FACTORIES["usage"].create_batch(5, occurred_at=expired_in_the_cutoffs_month(90))
    report = retention.retention_purge(batch_size=2, budget_seconds=-1)
    assert not report.finished and UsageRecord.objects.count() == 5
    assert SystemEvent.objects.get(event="retention.purged").level == "warning"


def test_legal_hold_stops_purging_and_deleting(staff):
    retention.policy_update(actor=staff, kind_slug="audit", days=1, legal_hold=True)
    row = FACTORIES["audit"](occurred_at=days_ago(30))
    report = retention.retention_purge()
    assert "audit" in report.held and AuditEvent.objects.filter(pk=row.pk).exists()
    with pytest.raises(retention.LegalHold):
        retention.deletion_request(actor=staff, kind_slug="audit", before=days_ago(1))
    if connection.vendor == "postgresql":  # the database's own check, whoever calls it
        with pytest.raises(retention.NotExpired, match="legal hold"):
            retention.purge_kind(registry["audit"], days_ago(10), batch_size=10,
                                 deadline=float("inf"))
    assert AuditEvent.objects.filter(pk=row.pk).exists()


def test_policy_changes_are_audited(staff):
    retention.policy_update(actor=staff, kind_slug="usage", days=30, legal_hold=False)
    event = AuditEvent.objects.get(action="retention.updated")
    assert event.changes == {"days": {"before": 90, "after": 30}}
    assert event.actor_name == staff.username and event.resource_id == "usage"


def test_delete_history_job_with_progress(staff):
    retention.policy_update(actor=staff, kind_slug="auth", days=3, legal_hold=False)
    FACTORIES["auth"].create_batch(4, occurred_at=days_ago(10))
    recent = FACTORIES["auth"](occurred_at=days_ago(1))
    job = retention.deletion_request(actor=staff, kind_slug="auth", before=days_ago(5))
    job.refresh_from_db()
    assert job.status == "completed" and job.rows_deleted == 4 and job.estimated_total == 4
    assert job.progress == 100
    assert list(FACTORIES["auth"]._meta.model.objects.filter(
        occurred_at__lt=days_ago(5))) == []
    assert FACTORIES["auth"]._meta.model.objects.filter(pk=recent.pk).exists()
    assert AuditEvent.objects.filter(action="logs.history_deleted").exists()
    assert SystemEvent.objects.filter(event="history.deleted").exists()


def test_a_deletion_of_rows_retention_still_keeps_is_refused(staff):
    """Only expired rows may go: to delete more, shorten the policy first (audited)."""
    FACTORIES["auth"](occurred_at=days_ago(10))
    with pytest.raises(retention.NotExpired, match="kept 90 days"):
        retention.deletion_request(actor=staff, kind_slug="auth", before=days_ago(5))
    assert not DeletionJob.objects.exists()
    if connection.vendor == "postgresql":  # and the database refuses it whoever asks
        with pytest.raises(retention.NotExpired, match="not expired"):
            retention.purge_kind(registry["auth"], days_ago(5), batch_size=10,
                                 deadline=float("inf"))
    assert AuthEvent.objects.count() == 1


def test_retention_page_is_for_administrators(staff_client):
    from django.test import Client

    member = Client()
    member.force_login(MemberFactory(username="nope"))
    assert member.get("/retention/").status_code == 403
    assert staff_client.get("/retention/").status_code == 200
    bad = staff_client.post("/retention/", {"action": "policy", "kind": "usage", "days": "0"})
    assert bad.status_code == 400
    future = (timezone.now() + timedelta(days=2)).strftime("%Y-%m-%dT%H:%M")
    bad = staff_client.post("/retention/", {"action": "delete", "kind": "usage",
                                            "before": future})
    assert bad.status_code == 400 and "in the past" in bad.content.decode()
    ok = staff_client.post("/retention/", {"action": "policy", "kind": "system", "days": "14",
                                           "legal_hold": "on"})
    assert ok.status_code == 302
    policy = RetentionPolicy.objects.get(kind="system")
    assert policy.days == 14 and policy.legal_hold


@pytest.mark.parametrize("sql", [
    "UPDATE logcenter_auditevent SET action = 'forged' WHERE id = %s",
    "DELETE FROM logcenter_auditevent WHERE id = %s",
])
def test_trigger_refuses_raw_update_and_delete(on_postgres, sql):
    row = FACTORIES["audit"]()
    # The app role has no UPDATE or DELETE at all; a single role meets the trigger.
    with pytest.raises(DatabaseError, match="append-only|permission denied"):
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(sql, [row.pk])
    row.refresh_from_db()
    assert row.action != "forged"


def test_trigger_refuses_orm_update_too(on_postgres):
    row = FACTORIES["usage"]()
    with pytest.raises(DatabaseError, match="append-only|permission denied"):
        with transaction.atomic():
            UsageRecord.objects.filter(pk=row.pk).update(cost=0)


def test_purged_usage_leaves_the_usage_figures_too(staff):
    """Stats (and the usage list's exact count) read the rollups: rows deleted by
    retention or a deletion job must leave them as well."""
    from logcenter.analytics import stats
    from logcenter.core.registry import registry

    now = timezone.now()
    FACTORIES["usage"].create_batch(5, occurred_at=now - timedelta(days=3))
    FACTORIES["usage"].create_batch(3, occurred_at=now - timedelta(minutes=5))
    assert stats.usage_stats(staff, {"range": "7d"})["requests"] == 8
    retention.policy_update(actor=staff, kind_slug="usage", days=1, legal_hold=False)
    retention.purge_kind(registry["usage"], now - timedelta(days=1), batch_size=100,
                         deadline=float("inf"))
    assert stats.usage_stats(staff, {"range": "7d"})["requests"] == 3
