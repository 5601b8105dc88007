"""The rows the stream tests store, and the order a destination must receive them in."""

from datetime import timedelta

from django.utils import timezone

from logcenter.core.registry import registry
from tests.factories import (AuditEventFactory, AuthEventFactory, SystemEventFactory,
                             UsageRecordFactory)

KINDS = ("audit", "usage", "auth", "system")


def demo_rows():
    """Two rows of each kind, one of them a day old (another UTC date: another index)."""
    return [AuditEventFactory(action="user.updated"),
            AuditEventFactory(occurred_at=timezone.now() - timedelta(days=1)),
            *UsageRecordFactory.create_batch(2),
            AuthEventFactory(event="login.failed", result="failure"), AuthEventFactory(),
            *SystemEventFactory.create_batch(2)]


def stored_stream(start):
    """(kind slug, row) of every row after the destination's first cursor, in the order a
    destination receives them: by ingestion time, each kind's rows in id order."""
    rows = [(slug, row) for slug in KINDS
            for row in registry[slug].model.objects.filter(id__gt=start[slug]).order_by("id")]
    return sorted(rows, key=lambda pair: (pair[1].ingested_at, pair[0], pair[1].id))


def ids(stream):
    return [str(row.event_id) for _, row in stream]
