"""Monthly partitions of the usage table on PostgreSQL."""

from datetime import timedelta

import pytest
from django.db import DatabaseError, connection, transaction
from django.utils import timezone

from logcenter import partitions, retention
from logcenter.models import SystemEvent, UsageRecord
from logcenter.tasks import usage_partitions_ensure
from tests.factories import UsageRecordFactory

pytestmark = pytest.mark.django_db


def test_usage_is_partitioned_by_month_with_months_ahead(on_postgres):
    assert partitions.is_partitioned()
    usage_partitions_ensure()
    ends = [end for _, _, end in partitions.usage_partitions()]
    assert max(ends) > timezone.now() + timedelta(days=60)
    with connection.cursor() as cursor:
        cursor.execute("SELECT tableoid::regclass::text FROM logcenter_usagerecord WHERE id = %s",
                       [UsageRecordFactory().pk])
        assert cursor.fetchone()[0] == partitions.partition_name(
            partitions.month_start(timezone.now()))


def test_retention_drops_whole_expired_months(on_postgres):
    old = timezone.now() - timedelta(days=200)
    partitions.ensure_usage_partitions(old, old)
    name = partitions.partition_name(partitions.month_start(old))
    UsageRecordFactory.create_batch(3, occurred_at=old)
    recent = UsageRecordFactory()
    report = retention.retention_purge()
    assert name in report.partitions_dropped and report.deleted["usage"] >= 3
    assert name not in [n for n, _, _ in partitions.usage_partitions()]
    assert list(UsageRecord.objects.values_list("pk", flat=True)) == [recent.pk]
    event = SystemEvent.objects.filter(event="retention.purged").latest("id")
    assert name in event.details["partitions_dropped"]


def test_partitions_are_append_only_too(on_postgres):
    row = UsageRecordFactory()
    table = partitions.partition_name(partitions.month_start(row.occurred_at))
    with pytest.raises(DatabaseError, match="append-only"):
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(f'DELETE FROM "{table}" WHERE id = %s', [row.pk])
