"""Delivery through the webhook: the pump's order, cursor, retries, pause, resume, replay."""

import json
from datetime import timedelta

import pytest
from django.utils import timezone

from logcenter.models import AuditEvent, SystemEvent
from logcenter.streams import delivery
from logcenter.streams.models import Destination
from tests.factories import AuditEventFactory, AuthEventFactory, UsageRecordFactory
from tests.logcenter.streams.receivers import WebhookReceiver

SECRET = "a-webhook-secret-of-32-characters"
pytestmark = pytest.mark.django_db


@pytest.fixture
def hook(httpserver):
    return WebhookReceiver(httpserver, SECRET)


@pytest.fixture
def destination(make_destination, hook):
    return make_destination("webhook", hook.url, {"secret": SECRET})


def _stored_ids(*models):
    ids = []
    for model in models:
        ids += [str(e) for e in model.objects.order_by("id").values_list("event_id", flat=True)]
    return ids


def test_new_rows_are_delivered_once_in_order_with_the_cursor_advanced(destination, hook):
    before = AuditEvent.objects.count()
    audits = AuditEventFactory.create_batch(3)
    usages = UsageRecordFactory.create_batch(2)
    result = delivery.pump(destination.pk)
    assert result.error == "" and result.delivered >= 5
    delivered = hook.event_ids
    for row in [*audits, *usages]:
        assert delivered.count(str(row.event_id)) == 1
    # Each kind's rows arrive in their insertion (id) order.
    audit_ids = [e for e in delivered if e in {str(a.event_id) for a in audits}]
    assert audit_ids == [str(a.event_id) for a in audits]
    destination.refresh_from_db()
    assert destination.cursor["audit"] >= audits[-1].pk
    assert destination.cursor["usage"] == usages[-1].pk
    assert destination.delivered_count == len(delivered) and before >= 0
    # Caught up: the next pump sends nothing.
    assert delivery.pump(destination.pk, force=True).delivered == 0


def test_a_document_holds_the_row_as_stored(destination, hook):
    row = UsageRecordFactory()
    delivery.pump(destination.pk)
    document = next(d for d in hook.events if d["event_id"] == str(row.event_id))
    assert document["kind"] == "usage"
    assert document["record"]["request_id"] == row.request_id
    stored = type(row).objects.get(pk=row.pk)
    assert document["record"]["cost"] == format(stored.cost, "f")  # exact, as stored
    assert document["occurred_at"].endswith("Z")


def test_only_what_comes_after_creation_is_sent_unless_started_earlier(make_destination,
                                                                       httpserver):
    old = AuditEventFactory()
    hook = WebhookReceiver(httpserver, SECRET, path="/later")
    later = make_destination("webhook", hook.url, {"secret": SECRET}, kinds=["audit"])
    hook_from_start = WebhookReceiver(httpserver, SECRET, path="/early")
    early = make_destination("webhook", hook_from_start.url, {"secret": SECRET},
                             kinds=["audit"], start=timezone.now() - timedelta(days=2))
    delivery.pump(later.pk)
    delivery.pump(early.pk)
    assert str(old.event_id) not in hook.event_ids
    assert str(old.event_id) in hook_from_start.event_ids


def test_an_outage_loses_nothing_and_retries_the_same_batch(destination, hook):
    rows = AuditEventFactory.create_batch(4)
    hook.down(503)
    first = delivery.pump(destination.pk)
    assert "HTTP 503" in first.error
    destination.refresh_from_db()
    # The retry waits a backoff after the failure (milliseconds here: the time between the
    # failure and this line is not a measure of it).
    assert destination.consecutive_failures == 1
    assert destination.next_run_at > destination.last_error_at
    assert destination.cursor["audit"] < rows[0].pk
    hook.up()
    assert delivery.pump(destination.pk, force=True).error == ""
    for row in rows:
        assert hook.event_ids.count(str(row.event_id)) == 1
    destination.refresh_from_db()
    assert destination.consecutive_failures == 0 and destination.failed_count == 1
    assert SystemEvent.objects.filter(event="stream.recovered",
                                      resource_id=destination.public_id).exists()


def test_retry_after_is_honoured(destination, hook):
    AuditEventFactory()
    hook.fail_next(1, 429, {"Retry-After": "120"})
    delivery.pump(destination.pk)
    destination.refresh_from_db()
    wait = (destination.next_run_at - timezone.now()).total_seconds()
    assert 100 < wait <= 120


def test_a_long_outage_pauses_with_a_system_event_and_resume_goes_on(destination, hook, staff):
    from logcenter.streams import services

    row = AuditEventFactory()
    hook.down(500)
    delivery.pump(destination.pk)
    Destination.objects.filter(pk=destination.pk).update(
        failing_since=timezone.now() - timedelta(hours=2))
    result = delivery.pump(destination.pk, force=True)
    assert result.paused.startswith("Failing for")
    destination.refresh_from_db()
    assert destination.status == "paused" and "HTTP 500" in destination.paused_reason
    event = SystemEvent.objects.get(event="stream.paused", resource_id=destination.public_id)
    assert event.level == "error"
    assert delivery.pump(destination.pk, force=True).skipped  # paused: nothing sent
    hook.up()
    services.destination_resume(staff, destination)
    delivery.pump(destination.pk)
    assert str(row.event_id) in hook.event_ids
    assert AuditEvent.objects.filter(action="destination.resumed",
                                     resource_id=destination.public_id).exists()


def test_replay_from_a_time_sends_again_and_is_audited(destination, hook, staff):
    from logcenter.streams import services

    rows = AuditEventFactory.create_batch(2, occurred_at=timezone.now() - timedelta(hours=1))
    delivery.pump(destination.pk)
    sent = len(hook.events)
    services.destination_replay(staff, destination,
                                since=timezone.now() - timedelta(hours=2))
    delivery.pump(destination.pk)
    assert len(hook.events) > sent
    for row in rows:
        assert hook.event_ids.count(str(row.event_id)) == 2
    replayed = AuditEvent.objects.get(action="destination.replayed",
                                      resource_id=destination.public_id)
    assert set(replayed.changes["cursor"]) == {"before", "after"}


def test_forged_batches_are_refused_by_the_receivers_check(hook, destination):
    from logcenter.streams.protocols.webhook import signature, verify

    body = json.dumps({"events": []}).encode()
    good = signature(SECRET, 1_700_000_000, body)
    assert verify(SECRET, good, body, now=1_700_000_010)
    assert not verify("another-secret-entirely", good, body, now=1_700_000_010)
    assert not verify(SECRET, good, body + b" ", now=1_700_000_010)
    assert not verify(SECRET, good, body, now=1_700_000_000 + 301)  # a replayed batch


def test_credentials_are_encrypted_and_never_in_events_or_errors(destination, hook):
    destination.refresh_from_db()
    assert SECRET not in destination.credentials
    AuthEventFactory()
    hook.down(400)
    delivery.pump(destination.pk)
    destination.refresh_from_db()
    created = AuditEvent.objects.get(action="destination.created",
                                     resource_id=destination.public_id)
    for text in (json.dumps(created.changes), json.dumps(created.details),
                 destination.last_error):
        assert SECRET not in text


def test_credentials_survive_a_key_rotation(destination, hook, settings):
    from cryptography.fernet import Fernet
    from django.core.management import call_command

    from logcenter.streams import secrets

    old_token = Destination.objects.get(pk=destination.pk).credentials
    old_key = secrets._keys()[0]._signing_key + secrets._keys()[0]._encryption_key
    import base64

    old = base64.urlsafe_b64encode(old_key).decode()
    new = Fernet.generate_key().decode()
    settings.LOGCENTER_STREAMS = {**settings.LOGCENTER_STREAMS, "SECRETS_KEYS": [new, old]}
    call_command("rotate_stream_secrets")
    rotated = Destination.objects.get(pk=destination.pk).credentials
    assert rotated != old_token
    settings.LOGCENTER_STREAMS = {**settings.LOGCENTER_STREAMS, "SECRETS_KEYS": [new]}
    assert secrets.decrypt(rotated) == {"secret": SECRET}
    row = AuditEventFactory()
    assert delivery.pump(destination.pk).error == ""
    assert str(row.event_id) in hook.event_ids


def test_a_receiver_that_times_out_is_retried_and_loses_nothing(make_destination, httpserver,
                                                                settings):
    """No answer within STREAMS_HTTP_TIMEOUT_SECONDS: the batch counts as not delivered
    (it may have arrived: the receiver dedupes by event_id) and is sent again."""
    import time as clock

    class SlowOnce(WebhookReceiver):
        slow = True

        def accept(self, request):
            if self.slow:
                self.slow = False
                clock.sleep(1.5)
            return super().accept(request)

    settings.LOGCENTER_STREAMS = {**settings.LOGCENTER_STREAMS, "HTTP_TIMEOUT_SECONDS": 0.5}
    hook = SlowOnce(httpserver, SECRET, path="/slow")
    destination = make_destination("webhook", hook.url, {"secret": SECRET}, kinds=["audit"])
    rows = AuditEventFactory.create_batch(3)
    first = delivery.pump(destination.pk)
    assert "Timeout" in first.error or "timed out" in first.error, first.error
    destination.refresh_from_db()
    assert destination.cursor["audit"] < rows[0].pk
    clock.sleep(1.2)  # the receiver (one thread) finishes the slow answer
    assert delivery.pump(destination.pk, force=True).error == ""
    delivered = [e for e in hook.event_ids if e in {str(r.event_id) for r in rows}]
    # The slow answer's batch may have been taken too: then it arrives twice, in order.
    assert delivered in ([str(r.event_id) for r in rows],
                         [str(r.event_id) for r in rows] * 2)
