"""Delivery to AWS CloudWatch Logs (CloudWatchLogs), against moto's server: the log group and
stream created when missing, PutLogEvents' limits, refused old events, outages, and the
secret access key kept out of every error and audit event."""

import json
import socket
import uuid
from datetime import timedelta

import boto3
import pytest
import urllib3
from botocore.exceptions import ClientError
from django.core.exceptions import ValidationError
from django.utils import timezone
from moto.server import ThreadedMotoServer

from logcenter.core.registry import registry
from logcenter.models import AuditEvent, SystemEvent
from logcenter.streams import delivery, documents, services
from logcenter.streams.models import Destination
from logcenter.streams.protocols import DeliveryFailed, cloudwatch
from logcenter.streams.protocols.cloudwatch import CloudWatchLogs, put_requests, timestamp_ms
from tests.factories import (
    AuditEventFactory, AuthEventFactory, SystemEventFactory, UsageRecordFactory,
)

REGION = "eu-west-1"
KEY_ID = "AKIAIOSFODNN7LOGCNTR"
SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCY-logcenter-secret"
CREDENTIALS = {"access_key_id": KEY_ID, "secret_access_key": SECRET}
GROUP = "/logcenter/tests"
pytestmark = pytest.mark.django_db


@pytest.fixture(scope="module")
def moto_url():
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def logs(moto_url):
    """A client reading what was delivered (moto's state is emptied for each test)."""
    urllib3.request("POST", f"{moto_url}/moto-api/reset")
    client = boto3.session.Session(aws_access_key_id=KEY_ID, aws_secret_access_key=SECRET,
                                   region_name=REGION).client("logs", endpoint_url=moto_url)
    yield client
    client.close()


@pytest.fixture
def destination(make_destination, moto_url, logs):
    return make_destination("cloudwatch", GROUP, CREDENTIALS,
                            options={"region": REGION, "endpoint_url": moto_url})


def stored(logs, stream, group=GROUP):
    """The stream's events, oldest first, as (timestamp, the document)."""
    events, token = [], None
    while True:
        page = logs.get_log_events(logGroupName=group, logStreamName=stream,
                                   startFromHead=True, **({"nextToken": token} if token else {}))
        events += [(e["timestamp"], json.loads(e["message"])) for e in page["events"]]
        if not page["events"] or page["nextForwardToken"] == token:
            return events
        token = page["nextForwardToken"]


def carried_after(cursor):
    ids = set()
    for slug, position in cursor.items():
        ids |= {str(e) for e in registry[slug].model.objects.filter(id__gt=position)
                .values_list("event_id", flat=True)}
    return ids


def closed_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_demo_rows_reach_a_stream_created_with_its_group(destination, logs):
    made = [*AuditEventFactory.create_batch(2), *UsageRecordFactory.create_batch(2),
            *AuthEventFactory.create_batch(2), *SystemEventFactory.create_batch(2)]
    expected = carried_after(destination.cursor)
    assert logs.describe_log_groups()["logGroups"] == []
    result = delivery.pump(destination.pk)
    assert result.error == ""
    stream = f"logcenter-{destination.public_id}"
    assert [g["logGroupName"] for g in logs.describe_log_groups()["logGroups"]] == [GROUP]
    assert [s["logStreamName"] for s in logs.describe_log_streams(
        logGroupName=GROUP)["logStreams"]] == [stream]
    events = stored(logs, stream)
    ids = [document["event_id"] for _, document in events]
    assert len(ids) == len(expected) and set(ids) == expected  # exactly those, once each
    assert {str(row.event_id) for row in made} <= set(ids)
    timestamps = [timestamp for timestamp, _ in events]
    assert timestamps == sorted(timestamps)  # a stream reads in occurred_at order
    for timestamp, document in events:
        assert timestamp == timestamp_ms(document["occurred_at"])
        assert set(document) >= {"kind", "event_type", "summary", "record"}
    row = made[2]
    sent = next(d for _, d in events if d["event_id"] == str(row.event_id))
    assert sent["kind"] == "usage" and sent["record"]["request_id"] == row.request_id


def test_an_existing_group_named_by_its_arn_and_a_chosen_stream(make_destination, moto_url,
                                                                logs):
    logs.create_log_group(logGroupName="/siem/logcenter")
    arn = f"arn:aws:logs:{REGION}:123456789012:log-group:/siem/logcenter:*"
    named = make_destination("cloudwatch", arn, CREDENTIALS, kinds=["audit"],
                             options={"log_stream": "console", "endpoint_url": moto_url})
    row = AuditEventFactory()
    assert delivery.pump(named.pk).error == ""  # the region is the ARN's
    assert str(row.event_id) in [d["event_id"] for _, d in stored(logs, "console",
                                                                  "/siem/logcenter")]
    # Sent again (a new pump, a new client): the stream exists, nothing is created twice.
    AuditEventFactory()
    assert delivery.pump(named.pk, force=True).error == ""
    assert len(logs.describe_log_streams(logGroupName="/siem/logcenter")["logStreams"]) == 1


def test_the_endpoint_is_a_log_group_name_or_arn():
    for good in ("/logcenter/audit", "logcenter", "a.b-c_d#e",
                 "arn:aws:logs:eu-west-1:123456789012:log-group:/logcenter/audit",
                 "arn:aws-us-gov:logs:us-gov-west-1:123456789012:log-group:x:*"):
        CloudWatchLogs.check_endpoint(good)
    for bad in ("", "has space", "https://logs.eu-west-1.amazonaws.com", "a" * 513,
                "arn:aws:s3:::bucket", "arn:aws:logs:eu-west-1:123:log-group:x"):
        with pytest.raises(ValidationError):
            CloudWatchLogs.check_endpoint(bad)
    assert cloudwatch.log_group(
        "arn:aws:logs:ap-south-1:123456789012:log-group:/a/b:*") == ("/a/b", "ap-south-1")


def test_each_put_respects_the_limits_and_the_order(destination, logs):
    now = timezone.now()
    rows = [AuditEventFactory(occurred_at=now - timedelta(hours=hours))
            for hours in (1, 50, 30, 2, 26, 70)]  # three days, out of order
    rows += [AuditEventFactory(occurred_at=now - timedelta(minutes=minutes),
                               metadata={"blob": "z" * 400_000}) for minutes in (5, 3, 4)]
    batch = [documents.event_document(registry["audit"], row) for row in rows]
    sender = CloudWatchLogs(destination)
    puts = []
    sender.client.meta.events.register(
        "before-parameter-build.logs.PutLogEvents",
        lambda params, **kwargs: puts.append(list(params["logEvents"])))
    sender.send(batch)
    sender.close()
    assert len(puts) >= 4  # 3 days need 4 windows; 1.2 MB of the last hour needs 2 requests
    for events in puts:
        stamps = [event["timestamp"] for event in events]
        assert stamps == sorted(stamps)
        assert stamps[-1] - stamps[0] < 24 * 3600 * 1000
        assert sum(len(e["message"].encode()) + 26 for e in events) <= 1_048_576
        assert len(events) <= 10_000
    delivered = [document["event_id"] for _, document in
                 stored(logs, f"logcenter-{destination.public_id}")]
    assert sorted(delivered) == sorted(str(row.event_id) for row in rows)


def test_put_requests_cut_at_each_limit():
    def event(timestamp, size=10):
        return (timestamp, b"x" * size, {"event_id": str(uuid.uuid4())})

    assert [len(r) for r in put_requests([event(1000)] * 10_001)] == [10_000, 1]
    half = cloudwatch.MAX_REQUEST_BYTES // 2 - cloudwatch.EVENT_OVERHEAD
    assert [len(r) for r in put_requests([event(1, half), event(2, half)])] == [2]
    assert [len(r) for r in put_requests([event(1, half), event(2, half + 1)])] == [1, 1]
    day = 24 * 3600 * 1000
    cut = put_requests([event(day), event(0), event(day - 1), event(2 * day)])
    assert [[e[0] for e in r] for r in cut] == [[0, day - 1], [day], [2 * day]]


def test_an_event_over_1_mb_is_sent_shortened(destination, logs):
    row = AuditEventFactory(metadata={"blob": "q" * 1_100_000})
    assert delivery.pump(destination.pk).error == ""
    sent = next(d for _, d in stored(logs, f"logcenter-{destination.public_id}")
                if d["event_id"] == str(row.event_id))
    assert sent["truncated"] is True and "record" not in sent and sent["kind"] == "audit"


def test_events_cloudwatch_will_never_take_are_reported_not_retried(destination, logs):
    old = AuditEventFactory(occurred_at=timezone.now() - timedelta(days=20))
    recent = AuditEventFactory()
    result = delivery.pump(destination.pk)
    assert result.error == ""
    destination.refresh_from_db()
    assert destination.cursor["audit"] >= recent.pk and destination.consecutive_failures == 0
    ids = [d["event_id"] for _, d in stored(logs, f"logcenter-{destination.public_id}")]
    assert str(recent.event_id) in ids and str(old.event_id) not in ids
    warning = SystemEvent.objects.get(event="stream.rejected",
                                      resource_id=destination.public_id)
    assert warning.level == "warning"
    assert "refused 1 event(s)" in warning.message and "older than 14 days" in warning.message
    assert str(old.event_id) in warning.message


def test_an_unreachable_api_fails_then_delivers_once_fixed(destination, logs, moto_url,
                                                          staff):
    rows = AuditEventFactory.create_batch(3)
    values = {"name": destination.name, "type": "cloudwatch", "endpoint": GROUP,
              "kinds": destination.kinds, "batch_size": 500, "interval_seconds": 0,
              "options": {"region": REGION,
                          "endpoint_url": f"http://127.0.0.1:{closed_port()}"}}
    services.destination_save(staff, values, destination=destination)
    result = delivery.pump(destination.pk)
    assert "EndpointConnectionError" in result.error
    destination.refresh_from_db()
    assert destination.consecutive_failures == 1 and destination.cursor["audit"] < rows[0].pk
    assert "Could not connect" in destination.last_error
    services.destination_save(staff, {**values, "options": {"region": REGION,
                                                            "endpoint_url": moto_url}},
                              destination=destination)
    assert delivery.pump(destination.pk, force=True).error == ""
    ids = [d["event_id"] for _, d in stored(logs, f"logcenter-{destination.public_id}")]
    for row in rows:
        assert ids.count(str(row.event_id)) == 1
    destination.refresh_from_db()
    assert destination.consecutive_failures == 0 and destination.failed_count == 1


def test_the_secret_key_is_in_no_error_and_no_audit_event(destination, logs):
    AuditEventFactory()
    # An error echoing a credential (here the API address it could not reach holds it;
    # set behind the audit's back, as no one would type it there).
    Destination.objects.filter(pk=destination.pk).update(options={
        "region": REGION, "endpoint_url": f"http://127.0.0.1:{closed_port()}/{SECRET}"})
    result = delivery.pump(destination.pk)
    assert "Could not connect" in result.error and "[redacted]" in result.error
    destination.refresh_from_db()
    assert destination.last_error and SECRET not in destination.last_error
    for event in AuditEvent.objects.all():
        text = json.dumps([event.changes, event.details, event.reason, event.resource_name])
        assert SECRET not in text and KEY_ID not in text
    assert SECRET not in json.dumps(list(SystemEvent.objects.values_list("message", "details")))


def test_without_stored_keys_the_default_chain_is_used(destination, logs, monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", KEY_ID)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET)
    sender = CloudWatchLogs(destination, credentials={})
    sender.send([documents.event_document(registry["audit"], AuditEventFactory())])
    sender.close()
    assert len(stored(logs, f"logcenter-{destination.public_id}")) == 1


def test_aws_errors_say_what_to_do(destination):
    sender = CloudWatchLogs(destination)

    def failure(code, message="the service said so"):
        error = ClientError({"Error": {"Code": code, "Message": f"{message} {SECRET}"},
                             "ResponseMetadata": {"HTTPStatusCode": 400}}, "PutLogEvents")
        found = sender.failure(error, "PutLogEvents")
        assert isinstance(found, DeliveryFailed) and SECRET not in str(found)
        return str(found)

    assert "tried again" in failure("ThrottlingException", "Rate exceeded")
    assert "tried again" in failure("ServiceUnavailableException")
    assert "check the log group and stream" in failure("InvalidParameterException")
    assert "logs:PutLogEvents" in failure("AccessDeniedException")
    assert "did not accept the credentials" in failure("UnrecognizedClientException")
