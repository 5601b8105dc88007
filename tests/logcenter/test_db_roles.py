"""The app role cannot rewrite history: as it, every way of changing or removing log rows
outside retention is refused by PostgreSQL itself, and retention still purges.

Runs when the tests use two roles (`make test`: DATABASE_URL is the app role,
MIGRATION_DATABASE_URL the owner)."""

from datetime import timedelta

import pytest
from django.db import DatabaseError, connection, transaction
from django.utils import timezone

from logcenter.engines.postgres import db_roles, partitions
from logcenter.retention import purge as retention
from logcenter.models import AuditEvent, RetentionPolicy, UsageLedger, UsageRecord
from logcenter.core.registry import registry
from tests.factories import FACTORIES

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def two_roles(on_postgres):
    if not db_roles.split_roles():
        pytest.skip("needs two database roles (MIGRATION_DATABASE_URL)")
    with connection.cursor() as cursor:
        cursor.execute("SELECT current_user, rolsuper FROM pg_roles WHERE rolname = current_user")
        user, superuser = cursor.fetchone()
    assert user == db_roles.app_credentials()["USER"] and not superuser
    for kind in registry:  # the default policies (a flush before may have emptied them)
        RetentionPolicy.for_kind(kind.slug)


def refused(statement, params=()):
    with pytest.raises(DatabaseError) as caught, transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute(statement, params)
    return str(caught.value)


def this_month_partition():
    return partitions.partition_name(partitions.month_start(timezone.now()))


@pytest.mark.parametrize("statement", [
    "UPDATE logcenter_auditevent SET action = 'forged' WHERE id = %s",
    "DELETE FROM logcenter_auditevent WHERE id = %s",
    "UPDATE logcenter_usagerecord SET cost = 0 WHERE id = %s",
    "DELETE FROM logcenter_usagerecord WHERE id = %s",
])
def test_update_and_delete_are_refused(statement):
    audit, usage = FACTORIES["audit"](), FACTORIES["usage"]()
    row = audit if "audit" in statement else usage
    assert "permission denied" in refused(statement, [row.pk])
    assert type(row).objects.filter(pk=row.pk, **({"action": row.action} if row is audit
                                                  else {"cost": row.cost})).exists()


def test_a_partition_is_no_way_around():
    row = FACTORIES["usage"]()
    table = this_month_partition()
    assert "permission denied" in refused(f'DELETE FROM "{table}" WHERE id = %s', [row.pk])
    assert "permission denied" in refused(f'UPDATE "{table}" SET cost = 0 WHERE id = %s',
                                          [row.pk])


@pytest.mark.parametrize("statement", [
    "TRUNCATE logcenter_auditevent",
    "TRUNCATE logcenter_usagerecord",
    "TRUNCATE logcenter_usageledger",
    "TRUNCATE {partition}",
])
def test_truncate_is_refused(statement):
    FACTORIES["audit"](), FACTORIES["usage"]()
    refused(statement.format(partition=this_month_partition()))
    assert AuditEvent.objects.exists() and UsageRecord.objects.exists()


@pytest.mark.parametrize("statement", [
    "ALTER TABLE logcenter_auditevent DISABLE TRIGGER logcenter_auditevent_append_only",
    "ALTER TABLE logcenter_auditevent DISABLE TRIGGER ALL",
    "DROP TRIGGER logcenter_auditevent_append_only ON logcenter_auditevent",
    "ALTER TABLE logcenter_auditevent ALTER COLUMN action DROP NOT NULL",
    "DROP TABLE logcenter_auditevent",
    "ALTER TABLE logcenter_usagerecord DETACH PARTITION {partition}",
    "DROP TABLE {partition}",
    "ALTER TABLE logcenter_auditevent OWNER TO CURRENT_USER",
    "SET session_replication_role = replica",
    "CREATE OR REPLACE FUNCTION logcenter_refuse_log_change() RETURNS trigger "
    "LANGUAGE plpgsql AS $$ BEGIN RETURN NULL; END $$",
])
def test_schema_and_trigger_changes_are_refused(statement):
    FACTORIES["usage"]()
    message = refused(statement.format(partition=this_month_partition()))
    assert ("must be owner" in message or "permission denied" in message
            or "superuser" in message), message


def test_the_purge_setting_opens_nothing():
    row = FACTORIES["audit"]()
    with pytest.raises(DatabaseError, match="permission denied"), transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL logcenter.purge = 'on'")
            cursor.execute("DELETE FROM logcenter_auditevent WHERE id = %s", [row.pk])


def test_the_purge_function_refuses_unexpired_rows_and_legal_holds():
    row = FACTORIES["audit"](occurred_at=timezone.now() - timedelta(days=30))
    # The audit policy keeps a year: a cutoff of yesterday would take this row.
    message = refused("SELECT logcenter_purge('logcenter_auditevent', %s, 100)",
                      [timezone.now() - timedelta(days=1)])
    assert "not expired" in message
    assert "not a log table" in refused(
        "SELECT logcenter_purge('logcenter_exportjob', now(), 100)")
    assert "not a log table" in refused(
        "SELECT logcenter_purge('auth_user', now(), 100)")
    assert AuditEvent.objects.filter(pk=row.pk).exists()
    # The app role may not rewrite which tables the function purges, or how long they keep.
    assert "permission denied" in refused("UPDATE logcenter_logtable SET min_days = 0")
    # Without a policy, nothing may go.
    RetentionPolicy.objects.filter(kind="audit").delete()
    assert "no retention policy" in refused(
        "SELECT logcenter_purge('logcenter_auditevent', %s, 100)",
        [timezone.now() - timedelta(days=3650)])


def test_partition_functions_check_the_policy():
    old = timezone.now() - timedelta(days=40)
    partitions.ensure_usage_partitions(old, old)  # through the owner's function
    name = partitions.partition_name(partitions.month_start(old))
    assert name in {n for n, _, _ in partitions.usage_partitions()}
    # Usage keeps 90 days: that month is not expired.
    assert "not expired" in refused("SELECT logcenter_drop_usage_partition(%s)", [name])
    assert "not a monthly usage partition" in refused(
        "SELECT logcenter_drop_usage_partition('logcenter_auditevent')")
    assert "no usage partition" in refused(
        "SELECT logcenter_create_usage_partition('2090-01-01T00:00:00Z')")


def test_retention_still_purges_expired_rows_and_months():
    old = timezone.now() - timedelta(days=400)
    partitions.ensure_usage_partitions(old, old)
    expired = FACTORIES["usage"](occurred_at=old)
    kept = FACTORIES["usage"]()
    expired_audit = FACTORIES["audit"](occurred_at=timezone.now() - timedelta(days=400))
    UsageLedger.objects.bulk_create([UsageLedger(event_id=r.event_id, occurred_at=r.occurred_at)
                                     for r in (expired, kept)], ignore_conflicts=True)
    report = retention.retention_purge()
    assert partitions.partition_name(partitions.month_start(old)) in report.partitions_dropped
    assert list(UsageRecord.objects.values_list("pk", flat=True)) == [kept.pk]
    assert not AuditEvent.objects.filter(pk=expired_audit.pk).exists()
    assert list(UsageLedger.objects.values_list("event_id", flat=True)) == [kept.event_id]


def test_app_privileges_follow_what_each_table_is():
    with connection.cursor() as cursor:
        def privileges(table):
            cursor.execute("SELECT string_agg(p, ',' ORDER BY p) FROM unnest(ARRAY['SELECT', "
                           "'INSERT', 'UPDATE', 'DELETE', 'TRUNCATE']) p "
                           "WHERE has_table_privilege(current_user, %s, p)", [table])
            return cursor.fetchone()[0] or ""
        for kind in registry:  # append-only: read and append
            assert privileges(kind.model._meta.db_table) == "INSERT,SELECT", kind.slug
        assert privileges("logcenter_usageledger") == "INSERT,SELECT"
        assert privileges("logcenter_exportjob") == "DELETE,INSERT,SELECT,UPDATE"
        assert privileges("logcenter_usagehourly") == "DELETE,INSERT,SELECT,UPDATE"
        assert privileges("django_migrations") == "SELECT"
        assert privileges("logcenter_logtable") == ""
        cursor.execute("SELECT count(*) FROM pg_class c WHERE c.relnamespace = "
                       "'public'::regnamespace AND pg_get_userbyid(c.relowner) = current_user")
        assert cursor.fetchone()[0] == 0  # it owns nothing
