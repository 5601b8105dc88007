"""Delivery to Elasticsearch / OpenSearch through `_bulk` (BulkReceiver answers as the
cluster does): ECS documents with _id = event_id in the per-day index or a data stream,
API key or user, per-item failures retried item by item, 409s as delivered, 413 halving,
an outage."""

import base64
from datetime import timezone as dt_timezone

import pytest
from django.utils import timezone

from logcenter.models import SystemEvent
from logcenter.streams import delivery, services
from tests.factories import AuditEventFactory, AuthEventFactory
from tests.logcenter.streams.receivers import BulkReceiver
from tests.logcenter.streams.stored import demo_rows, ids, stored_stream

KEY_ID, KEY = "VuaCfGcBCdbkQm-e5aOx", "ui2lp2axTNmsyakw9tvNnw"
ENCODED = base64.b64encode(f"{KEY_ID}:{KEY}".encode()).decode()
pytestmark = pytest.mark.django_db


@pytest.fixture
def es(httpserver):
    return BulkReceiver(httpserver, api_key=ENCODED)


@pytest.fixture
def destination(make_destination, es):
    return make_destination("elasticsearch", es.base_url, {"api_key": ENCODED},
                            include_sensitive=True)


def utc_text(moment):
    return moment.astimezone(dt_timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def day_index(row, prefix="logcenter"):
    return f"{prefix}-{row.occurred_at.astimezone(dt_timezone.utc):%Y.%m.%d}"


def indexed_ids(es):
    """Every _id stored, over every index (a repeat would show twice)."""
    return [_id for documents in es.indices.values() for _id in documents]


def test_rows_are_indexed_once_in_order_as_ecs_in_the_days_index(destination, es):
    start = dict(destination.cursor)
    demo = {str(row.event_id) for row in demo_rows()}
    assert delivery.pump(destination.pk).error == ""
    stream = stored_stream(start)
    assert len(stream) == 9  # the eight rows and the destination's own creation (audit)
    assert es.event_ids == ids(stream)
    assert sorted(indexed_ids(es)) == sorted(ids(stream))
    assert len(es.indices) == 2  # today's index and yesterday's
    assert es.bulk_sizes == [9]
    assert {item[0] for item in es.items} == {"create"}
    for slug, row in stream:
        document = es.indices[day_index(row)][str(row.event_id)]
        assert document["@timestamp"] == utc_text(row.occurred_at)
        assert document["event"]["id"] == str(row.event_id)
        assert document["event"]["dataset"] == f"logcenter.{slug}"
        assert document["event"]["created"] == utc_text(row.ingested_at)
        assert document["user"]["name"] == row.actor_name
        if str(row.event_id) in demo:  # (the console's own audit event has no request)
            assert document["source"]["ip"] == row.ip == "203.0.113.7"
            assert document["user_agent"]["original"] == row.user_agent
            assert document["http"]["request"]["id"] == row.request_id
        assert document["logcenter"]["kind"] == slug
        assert document["logcenter"]["record"]["request_id"] == row.request_id
    by_action = {doc["event"]["action"]: doc for doc in es.events}
    assert by_action["auth.login.failed"]["event"]["outcome"] == "failure"
    assert by_action["auth.login.succeeded"]["event"]["outcome"] == "success"
    assert by_action["user.updated"]["event"]["outcome"] == "success"
    assert any(action.endswith(".task.failed") and doc["log"]["level"] == "error"
               and doc["event"]["severity"] == 3 for action, doc in by_action.items())
    destination.refresh_from_db()
    assert destination.delivered_count == 9
    assert delivery.pump(destination.pk, force=True).delivered == 0  # caught up


def test_masked_fields_stay_out_of_ecs(make_destination, es):
    destination = make_destination("elasticsearch", es.base_url, {"api_key": ENCODED},
                                   kinds=["auth"], options={"index_prefix": "siem-logs"})
    row = AuthEventFactory()
    assert delivery.pump(destination.pk).error == ""
    document = es.indices[day_index(row, "siem-logs")][str(row.event_id)]
    assert "ip" not in document.get("source", {})  # a masked address is left out
    assert document["user_agent"]["original"] == "[masked]"


@pytest.mark.parametrize("credentials, username", [
    ({"api_key": f"{KEY_ID}:{KEY}"}, ""),  # the key as created: encoded by the sender
    ({"api_key": ENCODED, "password": "a-password-for-logcenter"}, "logcenter_writer"),
])
def test_an_api_key_or_a_user_and_password(make_destination, httpserver, credentials,
                                           username):
    es = BulkReceiver(httpserver, api_key=ENCODED, username="logcenter_writer",
                      password="a-password-for-logcenter")
    destination = make_destination("elasticsearch", es.base_url + "/_bulk", credentials,
                                   kinds=["audit"], options={"username": username})
    row = AuditEventFactory()
    assert delivery.pump(destination.pk).error == ""
    assert es.rejected == 0 and str(row.event_id) in es.event_ids
    # A username set means the user, even with a key stored.
    assert es.authorizations_seen[0].split()[0] == ("Basic" if username else "ApiKey")


def test_without_credentials_no_authorization_is_sent(make_destination, httpserver):
    es = BulkReceiver(httpserver)  # a cluster without security
    destination = make_destination("elasticsearch", es.base_url, {}, kinds=["audit"])
    AuditEventFactory()
    assert delivery.pump(destination.pk).error == ""
    assert es.authorizations_seen == [None] and len(es.events) == 2  # and its creation


def test_a_username_without_a_password_says_so_before_sending(make_destination, es):
    destination = make_destination("elasticsearch", es.base_url, {"api_key": ENCODED},
                                   kinds=["audit"], options={"username": "logcenter_writer"})
    AuditEventFactory()
    result = delivery.pump(destination.pk)
    assert result.error.startswith("The username logcenter_writer is set but no password")
    assert es.requests == 0


def test_a_refused_key_is_recorded_without_the_key(make_destination, es):
    wrong = base64.b64encode(b"someid:not-the-key-at-all").decode()
    destination = make_destination("elasticsearch", es.base_url, {"api_key": wrong},
                                   kinds=["audit"])
    start = dict(destination.cursor)
    AuditEventFactory()
    result = delivery.pump(destination.pk)
    assert result.error.startswith("HTTP 401: security_exception: unable to authenticate")
    destination.refresh_from_db()
    assert destination.cursor == start and wrong not in destination.last_error
    assert es.events == []


def test_a_data_stream_takes_every_document_with_create(make_destination, httpserver):
    es = BulkReceiver(httpserver, api_key=ENCODED, data_streams={"logs-logcenter-default"})
    destination = make_destination("elasticsearch", es.base_url, {"api_key": ENCODED},
                                   options={"data_stream": "logs-logcenter-default",
                                            "index_prefix": "ignored"})
    start = dict(destination.cursor)
    demo_rows()
    assert delivery.pump(destination.pk).error == ""
    assert list(es.indices) == ["logs-logcenter-default"]
    assert sorted(es.indices["logs-logcenter-default"]) == sorted(ids(stored_stream(start)))
    assert {(item[0], item[3]) for item in es.items} == {("create", 201)}


def test_failed_items_are_retried_alone_and_a_replay_makes_no_duplicates(destination, es,
                                                                        staff):
    start = dict(destination.cursor)
    demo_rows()
    expected = ids(stored_stream(start))
    es.fail_items({2: 429, 5: 500})
    assert delivery.pump(destination.pk).error == ""
    # The first request's 2nd and 5th items failed; only they were sent again, and taken.
    assert es.bulk_sizes == [9, 2]
    assert [item[3] for item in es.items] == [201, 429, 201, 201, 500, 201, 201, 201, 201,
                                             201, 201]
    assert [item[2] for item in es.items[-2:]] == [expected[1], expected[4]]
    assert sorted(indexed_ids(es)) == sorted(expected)
    destination.refresh_from_db()
    assert destination.consecutive_failures == 0 and destination.delivered_count == 9

    # Sending the same rows again (a replay from the first cursor) stores nothing twice:
    # each is a 409, which counts as delivered, and the cursor moves on.
    services.destination_replay(staff, destination, cursor=services.cursor_text(start))
    assert delivery.pump(destination.pk).error == ""
    replayed = es.items[11:]
    assert [item[2] for item in replayed if item[3] == 409] == expected
    assert [item[3] for item in replayed if item[2] not in expected] == [201]  # the replay's
    assert len(indexed_ids(es)) == len(set(indexed_ids(es))) == 10  # own audit event
    destination.refresh_from_db()
    assert destination.delivered_count == 9 + 10
    assert delivery.pump(destination.pk, force=True).delivered == 0


def test_items_still_failing_fail_the_batch_naming_the_first_error(destination, es):
    start = dict(destination.cursor)
    demo_rows()
    expected = ids(stored_stream(start))
    es.fail_items({3: 429, 7: 429}, times=4)  # as many times as send tries
    result = delivery.pump(destination.pk)
    assert result.error.startswith(
        f"2 of 9 documents not indexed (4 tries); the first (event {expected[2]}): "
        "HTTP 429: es_rejected_execution_exception: rejected execution")
    assert es.bulk_sizes == [9, 2, 2, 2]
    destination.refresh_from_db()
    assert destination.cursor == start and destination.consecutive_failures == 1
    assert "es_rejected_execution_exception" in destination.last_error
    # The whole batch later: the items already created are 409s, the two now created.
    assert delivery.pump(destination.pk, force=True).error == ""
    last = es.items[-9:]
    assert [item[3] for item in last] == [409, 409, 201, 409, 409, 409, 201, 409, 409]
    assert sorted(indexed_ids(es)) == sorted(expected)


def test_an_item_error_retrying_cannot_heal_fails_at_once(destination, es):
    demo_rows()
    es.fail_items({4: 400}, error_type="mapper_parsing_exception", times=99)
    result = delivery.pump(destination.pk)
    assert "1 of 9 documents not indexed (1 try)" in result.error
    assert "HTTP 400: mapper_parsing_exception" in result.error
    assert es.bulk_sizes == [9]


def test_a_request_too_large_is_halved(destination, es):
    start = dict(destination.cursor)
    demo_rows()
    expected = ids(stored_stream(start))
    es.max_bytes = 5000  # two or three documents a request
    assert delivery.pump(destination.pk).error == ""
    assert sum(es.bulk_sizes) == 9 and max(es.bulk_sizes) < 9
    assert es.event_ids == expected  # halves in order
    es.max_bytes = 10  # not even one document fits: the error says so
    AuditEventFactory()
    result = delivery.pump(destination.pk, force=True)
    assert result.error.startswith("HTTP 413: event ") and "alone is larger" in result.error


def test_an_outage_then_back_delivers_everything_as_stored_in_order(make_destination, es):
    destination = make_destination("elasticsearch", es.base_url, {"api_key": ENCODED},
                                   batch_size=4)
    start = dict(destination.cursor)
    demo_rows()
    es.down(429, {"Retry-After": "30"})
    assert delivery.pump(destination.pk).error.startswith("HTTP 429")
    destination.refresh_from_db()
    assert 20 < (destination.next_run_at - timezone.now()).total_seconds() <= 30
    es.down(503)
    assert delivery.pump(destination.pk, force=True).error.startswith("HTTP 503")
    # Back, with the first request's 1st item rejected once (retried within the send).
    es.up()
    es.fail_items({1: 429})
    assert delivery.pump(destination.pk, force=True).error == ""
    while delivery.pump(destination.pk, force=True).delivered:  # stream.recovered too
        pass
    assert SystemEvent.objects.filter(event="stream.recovered").count() == 1
    stream = stored_stream(start)
    expected = ids(stream)
    assert sorted(indexed_ids(es)) == sorted(expected)  # every one, once
    assert es.event_ids == expected[1:4] + expected[:1] + expected[4:]  # the retried 1st
    for slug, row in stream:
        document = es.indices[day_index(row)][str(row.event_id)]
        assert document["@timestamp"] == utc_text(row.occurred_at)
        assert document["logcenter"]["record"]["request_id"] == row.request_id
        assert document["logcenter"]["kind"] == slug
    destination.refresh_from_db()
    assert destination.failed_count == 2 and destination.consecutive_failures == 0
