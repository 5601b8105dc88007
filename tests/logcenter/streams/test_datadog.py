"""Delivery to Datadog's logs intake (DatadogLogs), against a local intake (DatadogReceiver):
the entries as configured, gzip, Datadog's limits, and its answers (403, 413, 429)."""

import json
import uuid
from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone
from werkzeug.wrappers import Response

from logcenter.core.registry import registry
from logcenter.models import AuditEvent
from logcenter.streams import delivery, documents
from logcenter.streams.models import Destination
from logcenter.streams.protocols import datadog
from logcenter.streams.protocols.datadog import DatadogLogs, intake_url
from tests.factories import (
    AuditEventFactory, AuthEventFactory, SystemEventFactory, UsageRecordFactory,
)
from tests.logcenter.streams.receivers import DatadogReceiver

API_KEY = "dd-api-key-0123456789abcdef0123456789"
pytestmark = pytest.mark.django_db


@pytest.fixture
def intake(httpserver):
    return DatadogReceiver(httpserver, API_KEY)


@pytest.fixture
def destination(make_destination, intake):
    return make_destination("datadog", intake.base_url, {"api_key": API_KEY},
                            options={"site": "datadoghq.eu", "service": "billing-audit",
                                     "hostname": "logcenter-1", "tags": "env:test, team:sec"})


def rows_after(cursor):
    """The rows a destination created with `cursor` carries (a platform manager's), in the
    pump's order: by ingestion time, kind, id."""
    rows = []
    for slug, position in cursor.items():
        rows += [(row.ingested_at, slug, row.pk, str(row.event_id))
                 for row in registry[slug].model.objects.filter(id__gt=position)]
    return [event_id for *_, event_id in sorted(rows)]


def test_demo_rows_arrive_once_in_order_as_configured(destination, intake):
    made = [*AuditEventFactory.create_batch(2), *UsageRecordFactory.create_batch(2),
            *AuthEventFactory.create_batch(2), *SystemEventFactory.create_batch(2)]
    expected = rows_after(destination.cursor)
    result = delivery.pump(destination.pk)
    assert result.error == ""
    assert intake.event_ids == expected  # exactly those events, in the pump's order
    assert {str(row.event_id) for row in made} <= set(intake.event_ids)
    assert all(seen["encoding"] == "gzip" for seen in intake.requests_seen)
    for entry, document in zip(intake.entries, intake.events):
        assert entry["ddsource"] == "logcenter"
        assert entry["service"] == "billing-audit"
        assert entry["hostname"] == "logcenter-1"
        assert entry["ddtags"] == f"env:test,team:sec,kind:{document['kind']}"
        assert document["message"] == document["summary"]  # Datadog's line for the log
        assert set(document) >= {"event_id", "kind", "occurred_at", "event_type", "record"}
    row = made[2]  # a usage record, as stored
    sent = next(d for d in intake.events if d["event_id"] == str(row.event_id))
    assert sent["record"]["request_id"] == row.request_id
    destination.refresh_from_db()
    assert destination.delivered_count == len(expected) and destination.last_error == ""


def test_defaults_when_no_option_is_set(make_destination, intake):
    plain = make_destination("datadog", intake.base_url, {"api_key": API_KEY},
                             kinds=["audit"])
    AuditEventFactory()
    delivery.pump(plain.pk)
    entry = intake.entries[-1]
    assert entry["ddsource"] == "logcenter" and entry["service"] == "logcenter"
    assert entry["ddtags"] == "kind:audit" and "hostname" not in entry


def test_a_batch_over_1000_entries_goes_in_requests_of_1000_at_most(make_destination, intake):
    big = make_destination("datadog", intake.base_url, {"api_key": API_KEY},
                           kinds=["audit"], batch_size=2500)
    AuditEventFactory.create_batch(1150)
    expected = rows_after(big.cursor)
    assert delivery.pump(big.pk).batches == 1
    counts = [seen["entries"] for seen in intake.requests_seen]
    assert counts == [1000, len(expected) - 1000]
    assert intake.event_ids == expected


def test_requests_stay_under_5_mb_and_an_entry_over_1_mb_is_sent_shortened(destination,
                                                                          intake):
    row = AuditEventFactory(metadata={"blob": "x" * 900_000})
    document = documents.event_document(registry["audit"], row)
    batch = [{**document, "event_id": str(uuid.uuid4())} for _ in range(7)]  # 6.3 MB
    huge = AuditEventFactory(metadata={"blob": "y" * 1_200_000})
    huge_document = documents.event_document(registry["audit"], huge)
    batch.append(huge_document)
    DatadogLogs(destination).send(batch)
    assert len(intake.requests_seen) >= 2
    assert all(seen["bytes"] <= datadog.MAX_REQUEST_BYTES for seen in intake.requests_seen)
    assert all(len(datadog.compact(entry)) <= datadog.MAX_ENTRY_BYTES
               for entry in intake.entries)
    assert intake.event_ids == [doc["event_id"] for doc in batch]  # nothing dropped
    full, shortened = intake.events[0], intake.events[-1]
    assert full["record"]["metadata"]["blob"] == "x" * 900_000 and "truncated" not in full
    assert shortened["truncated"] is True and "record" not in shortened
    assert shortened["event_id"] == str(huge.event_id)
    assert shortened == {**{k: v for k, v in huge_document.items() if k != "record"},
                         "truncated": True, "message": huge_document["summary"]}


def test_a_refused_api_key_is_recorded_as_such_never_the_key(make_destination, intake):
    wrong = "dd-wrong-key-ffffffffffffffffffff"
    bad = make_destination("datadog", intake.base_url, {"api_key": wrong}, kinds=["audit"])
    row = AuditEventFactory()
    result = delivery.pump(bad.pk)
    assert "HTTP 403" in result.error
    bad.refresh_from_db()
    assert "HTTP 403" in bad.last_error and "refused the API key" in bad.last_error
    assert wrong not in bad.last_error and "[redacted]" in bad.last_error  # echoed, scrubbed
    assert bad.failed_count == 1 and bad.cursor["audit"] < row.pk
    assert intake.rejected == 1 and intake.events == []
    for event in AuditEvent.objects.all():
        assert wrong not in json.dumps([event.changes, event.details, event.reason])


def test_413_says_what_it_means(destination, intake):
    AuditEventFactory()
    intake.fail_next(1, 413)
    assert "HTTP 413" in delivery.pump(destination.pk).error
    destination.refresh_from_db()
    assert "5 MB" in destination.last_error


def test_429_waits_as_asked_then_everything_arrives(destination, intake):
    rows = AuthEventFactory.create_batch(3)
    expected = rows_after(destination.cursor)
    intake.fail_next(1, 429, {"Retry-After": "30"})
    assert "HTTP 429" in delivery.pump(destination.pk).error
    destination.refresh_from_db()
    wait = (destination.next_run_at - timezone.now()).total_seconds()
    assert 20 < wait <= 30
    assert delivery.pump(destination.pk).skipped == "not due"
    Destination.objects.filter(pk=destination.pk).update(
        next_run_at=timezone.now() - timedelta(seconds=1))  # the 30 seconds have passed
    assert delivery.pump(destination.pk).error == ""
    assert intake.event_ids == expected
    for row in rows:
        assert intake.event_ids.count(str(row.event_id)) == 1


def test_an_outage_mid_batch_sends_the_whole_batch_again(make_destination, intake):
    big = make_destination("datadog", intake.base_url, {"api_key": API_KEY},
                           kinds=["audit"], batch_size=2500)
    AuditEventFactory.create_batch(1005)
    expected = rows_after(big.cursor)
    real_accept = intake.accept

    def accept_once(request):  # the first request goes through, the second fails
        if intake.requests_seen:
            return Response("receiver unavailable", status=503)
        return real_accept(request)

    intake.accept = accept_once
    result = delivery.pump(big.pk)
    assert "HTTP 503" in result.error and "request 2 of 2" in result.error
    intake.accept = real_accept
    assert delivery.pump(big.pk, force=True).error == ""
    assert intake.event_ids == expected[:1000] + expected  # at least once, never lost


def test_the_site_names_the_intake():
    assert intake_url() == "https://http-intake.logs.datadoghq.com/api/v2/logs"
    assert intake_url("datadoghq.eu") == "https://http-intake.logs.datadoghq.eu/api/v2/logs"
    assert (intake_url("us5.datadoghq.com")
            == "https://http-intake.logs.us5.datadoghq.com/api/v2/logs")
    assert intake_url("ddog-gov.com") == "https://http-intake.logs.ddog-gov.com/api/v2/logs"
    # An endpoint overrides the site; /api/v2/logs is added once.
    assert intake_url("datadoghq.eu", "http://127.0.0.1:9000/") == (
        "http://127.0.0.1:9000/api/v2/logs")
    assert intake_url("datadoghq.eu", "https://proxy.example/dd/api/v2/logs") == (
        "https://proxy.example/dd/api/v2/logs")
    for site in datadog.SITES:
        assert intake_url(site).startswith(f"https://http-intake.logs.{site}/")
    unsaved = Destination(type="datadog", endpoint="", options={"site": "ap1.datadoghq.com"})
    assert DatadogLogs(unsaved, credentials={}).url == (
        "https://http-intake.logs.ap1.datadoghq.com/api/v2/logs")


def test_the_endpoint_is_an_http_address_or_empty():
    DatadogLogs.check_endpoint("")
    DatadogLogs.check_endpoint("https://http-intake.logs.datadoghq.eu")
    with pytest.raises(ValidationError):
        DatadogLogs.check_endpoint("http-intake.logs.datadoghq.eu")
