"""Delivery to Splunk's HTTP Event Collector (HecReceiver answers as Splunk does): the HEC
fields around each event, indexer acknowledgement, HEC's errors, an outage."""

from datetime import datetime, timedelta
from datetime import timezone as dt_timezone

import pytest
from django.utils import timezone

from logcenter.core.registry import registry
from logcenter.models import SystemEvent
from logcenter.streams import delivery
from logcenter.streams.models import Destination
from logcenter.streams.protocols.splunk import channel_of
from tests.factories import AuditEventFactory, AuthEventFactory
from tests.logcenter.streams.receivers import HecReceiver
from tests.logcenter.streams.stored import KINDS, demo_rows, ids, stored_stream

TOKEN = "6f1e1c4a-2b7d-4f4e-9a55-0c1d2e3f4a5b"
pytestmark = pytest.mark.django_db


@pytest.fixture
def hec(httpserver):
    return HecReceiver(httpserver, TOKEN)


def micros(value):
    return round(value * 1_000_000)


def test_rows_arrive_once_in_order_with_the_hec_fields(make_destination, hec):
    destination = make_destination(
        "splunk_hec", hec.base_url, {"token": TOKEN}, include_sensitive=True,
        options={"index": "security", "host": "logcenter.example.com"})
    start = dict(destination.cursor)
    demo_rows()
    result = delivery.pump(destination.pk)
    assert result.error == ""
    stream = stored_stream(start)
    assert len(stream) == 9  # the eight rows and the destination's own creation (audit)
    assert hec.event_ids == ids(stream)
    assert hec.channels == [None]  # no acknowledgement asked: no channel
    for (slug, row), sent in zip(stream, hec.received):
        assert set(sent) == {"time", "host", "source", "sourcetype", "index", "event"}
        epoch = row.occurred_at - datetime(1970, 1, 1, tzinfo=dt_timezone.utc)
        assert micros(sent["time"]) == epoch // timedelta(microseconds=1)  # exact to the µs
        assert sent["host"] == "logcenter.example.com"
        assert sent["source"] == "logcenter"
        assert sent["sourcetype"] == f"logcenter:{slug}"
        assert sent["index"] == "security"
        event = sent["event"]
        assert event["event_id"] == str(row.event_id) and event["kind"] == slug
        assert event["record"]["request_id"] == row.request_id
        assert event["actor"]["ip"] == row.ip  # sensitive fields sent, as chosen
    failed_login = next(s["event"] for s in hec.received
                        if s["event"]["event_type"] == "auth.login.failed")
    assert failed_login["result"] == "failure"
    destination.refresh_from_db()
    for slug, row in stream:
        assert destination.cursor[slug] >= row.pk
    assert destination.delivered_count == 9
    assert delivery.pump(destination.pk, force=True).delivered == 0  # caught up


def test_a_fixed_sourcetype_no_index_and_a_pasted_collector_address(make_destination,
                                                                    httpserver):
    hec = HecReceiver(httpserver, TOKEN, prefix="/splunk")  # behind a proxy's path
    destination = make_destination(
        "splunk_hec", hec.base_url + "/services/collector/event", {"token": TOKEN},
        kinds=["audit"], options={"sourcetype": "_json"})
    row = AuditEventFactory()
    assert delivery.pump(destination.pk).error == ""
    sent = hec.received[-1]
    assert sent["event"]["event_id"] == str(row.event_id)
    assert sent["sourcetype"] == "_json" and "index" not in sent
    assert (sent["host"], sent["source"]) == ("logcenter", "logcenter")
    assert sent["event"]["actor"]["ip"] == "[masked]"  # sensitive fields masked by default


def test_with_acknowledgement_the_cursor_moves_once_splunk_says_indexed(make_destination,
                                                                       httpserver):
    hec = HecReceiver(httpserver, TOKEN, ack=True, acks_after=3)
    destination = make_destination("splunk_hec", hec.base_url, {"token": TOKEN},
                                   options={"use_ack": True, "ack_timeout_seconds": 10})
    start = dict(destination.cursor)
    demo_rows()
    assert delivery.pump(destination.pk).error == ""
    # One batch, on the destination's own channel, polled until its ackId (0) was true.
    assert hec.channels == [channel_of(destination)]
    assert hec.ack_polls == {0: 3} and hec.acked == [0]
    destination.refresh_from_db()
    assert hec.event_ids == ids(stored_stream(start))
    assert destination.cursor["auth"] == registry["auth"].model.objects.latest("id").pk
    # The next batch gets the next ackId, on the same channel.
    AuthEventFactory()
    assert delivery.pump(destination.pk, force=True).error == ""
    assert hec.acked == [0, 1] and set(hec.channels) == {channel_of(destination)}


def test_an_acknowledgement_that_never_comes_sends_the_batch_again(make_destination,
                                                                  httpserver):
    hec = HecReceiver(httpserver, TOKEN, ack=True, acks_after=None)
    destination = make_destination("splunk_hec", hec.base_url, {"token": TOKEN},
                                   options={"use_ack": True, "ack_timeout_seconds": 1})
    start = dict(destination.cursor)
    demo_rows()
    result = delivery.pump(destination.pk)
    assert "did not acknowledge the batch (ackId 0" in result.error
    assert hec.ack_polls[0] >= 2 and hec.acked == []
    destination.refresh_from_db()
    assert destination.cursor == start  # Splunk holds the batch, the cursor did not move
    assert destination.consecutive_failures == 1
    assert "did not acknowledge" in destination.last_error
    expected = ids(stored_stream(start))
    assert hec.event_ids == expected

    hec.acks_after = 1  # Splunk acknowledges again
    assert delivery.pump(destination.pk, force=True).error == ""
    # The same batch again, whole and in order; its repeats carry the same event ids.
    assert hec.event_ids == expected + expected
    assert hec.acked == [1] and 0 not in hec.acked
    destination.refresh_from_db()
    assert destination.consecutive_failures == 0
    assert all(destination.cursor[slug] > start[slug] for slug in KINDS)


def test_acknowledgement_asked_of_a_token_without_it_fails_saying_so(make_destination, hec):
    destination = make_destination("splunk_hec", hec.base_url, {"token": TOKEN},
                                   kinds=["audit"], options={"use_ack": True})
    start = dict(destination.cursor)
    AuditEventFactory()
    result = delivery.pump(destination.pk)
    assert "without an ackId" in result.error and "acknowledgement" in result.error
    destination.refresh_from_db()
    assert destination.cursor == start


def test_a_wrong_token_is_recorded_with_hecs_text_never_the_token(make_destination, hec):
    wrong = "0b9d4a7e-0000-4000-8000-wrongtoken00"
    destination = make_destination("splunk_hec", hec.base_url, {"token": wrong},
                                   kinds=["audit"])
    start = dict(destination.cursor)
    AuditEventFactory()
    result = delivery.pump(destination.pk)
    assert result.error == "HTTP 403: Invalid token (HEC code 4)"
    assert hec.rejected == 1 and hec.events == []
    destination.refresh_from_db()
    assert destination.last_error == "HTTP 403: Invalid token (HEC code 4)"
    assert destination.cursor == start and destination.failed_count == 1
    # The token reaches no record: not the error, not a system event, not the stored value.
    Destination.objects.filter(pk=destination.pk).update(
        failing_since=timezone.now() - timedelta(hours=2))
    assert delivery.pump(destination.pk, force=True).paused
    destination.refresh_from_db()
    texts = [destination.last_error, destination.paused_reason, destination.credentials,
             *SystemEvent.objects.filter(resource_id=destination.public_id)
             .values_list("message", flat=True)]
    assert all(wrong not in text for text in texts)
    assert "Invalid token" in destination.paused_reason


def test_a_busy_splunk_is_retried_after_its_retry_after(make_destination, hec):
    destination = make_destination("splunk_hec", hec.base_url, {"token": TOKEN},
                                   kinds=["audit"])
    row = AuditEventFactory()
    hec.busy(1, retry_after=40)
    result = delivery.pump(destination.pk)
    assert result.error == "HTTP 503: Server is busy (HEC code 9)"
    destination.refresh_from_db()
    assert 30 < (destination.next_run_at - timezone.now()).total_seconds() <= 40
    assert delivery.pump(destination.pk).skipped == "not due"
    assert delivery.pump(destination.pk, force=True).error == ""
    assert hec.event_ids.count(str(row.event_id)) == 1


def test_an_outage_then_back_delivers_everything_as_stored_in_order(make_destination,
                                                                   httpserver):
    hec = HecReceiver(httpserver, TOKEN, ack=True, acks_after=None)
    destination = make_destination("splunk_hec", hec.base_url, {"token": TOKEN},
                                   batch_size=4,
                                   options={"use_ack": True, "ack_timeout_seconds": 1})
    start = dict(destination.cursor)
    demo_rows()
    # 1. The first batch reaches Splunk, but its acknowledgement is lost: sent again later.
    assert "did not acknowledge" in delivery.pump(destination.pk).error
    first_batch = list(hec.event_ids)
    assert len(first_batch) == 4
    # 2. Splunk is down, then refuses with 429 and a Retry-After.
    hec.down(503)
    assert "HTTP 503" in delivery.pump(destination.pk, force=True).error
    hec.down(429, {"Retry-After": "20"})
    assert "HTTP 429" in delivery.pump(destination.pk, force=True).error
    destination.refresh_from_db()
    assert 10 < (destination.next_run_at - timezone.now()).total_seconds() <= 20
    assert destination.cursor == start
    # 3. Back: everything goes, from the unacknowledged batch on.
    hec.up()
    hec.acks_after = 1
    result = delivery.pump(destination.pk, force=True)
    assert result.error == "" and result.batches >= 3
    # The stream.recovered system event, written after the first batch, goes in this pump
    # or the next (depending on the engine's horizon): pump until caught up.
    while delivery.pump(destination.pk, force=True).delivered:
        pass
    stream = stored_stream(start)
    expected = ids(stream)
    assert SystemEvent.objects.filter(event="stream.recovered").count() == 1
    received = hec.event_ids
    first_seen = list(dict.fromkeys(received))
    assert first_seen == expected  # every stored event, in the stored order
    # The only repeats are the unacknowledged batch's, sent again whole and in order.
    assert received == first_batch + expected
    documents = {doc["event_id"]: doc for doc in hec.events}
    for slug, row in stream:
        document = documents[str(row.event_id)]
        assert document["kind"] == slug and document["record"]["request_id"] == row.request_id
        assert document["occurred_at"] == row.occurred_at.astimezone(
            dt_timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    destination.refresh_from_db()
    assert destination.consecutive_failures == 0 and destination.failed_count == 3
