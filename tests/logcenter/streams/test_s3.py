"""Delivery to object storage (S3-compatible), against moto's S3 server: one gzip NDJSON
object per batch in hourly folders, a batch sent again overwriting its object, an outage
recorded without a secret and delivered once fixed."""

import re

import pytest
from django.core.exceptions import ValidationError

from logcenter.streams import delivery, services
from logcenter.streams.models import Destination
from logcenter.streams.protocols import protocol_for
from logcenter.streams.protocols.s3 import parse_endpoint
from tests.factories import AuditEventFactory, AuthEventFactory, UsageRecordFactory
from tests.logcenter.streams.s3_store import (  # noqa: F401 (fixtures)
    ACCESS_KEY_ID, CREDENTIALS, SECRET_ACCESS_KEY, free_port, moto_s3, s3_bucket)

pytestmark = pytest.mark.django_db
KEY_RE = re.compile(r"^logs/(\d{4})/(\d{2})/(\d{2})/(\d{2})/logcenter-(dst_[0-9a-f]{16})-"
                    r"([0-9a-f]{16})\.ndjson\.gz$")


@pytest.fixture(autouse=True)
def no_ambient_aws(monkeypatch, tmp_path):
    """boto3's default chain finds nothing of the machine's (files, variables, IMDS)."""
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN",
                 "AWS_PROFILE", "AWS_DEFAULT_REGION", "AWS_REGION"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")


@pytest.fixture
def s3_destination(make_destination, moto_s3, s3_bucket):
    def make(credentials=CREDENTIALS, endpoint_url=None, **values):
        return make_destination(
            "s3", values.pop("endpoint", f"s3://{s3_bucket}/logs/"), credentials,
            options={"endpoint_url": endpoint_url or moto_s3.url, "region": "us-east-1",
                     **values.pop("options", {})}, **values)

    return make


def _carried_in_order(cursor):
    """The event ids a destination at `cursor` has to send now, in the pump's order: by
    ingestion time, then kind, each kind by id (the rows the console itself wrote, such
    as the destination's own creation, included)."""
    from logcenter.core.registry import registry

    rows = [(row.ingested_at, slug, row.pk, str(row.event_id))
            for slug, after in cursor.items()
            for row in registry[slug].model.objects.filter(id__gt=after)]
    return [event_id for *_, event_id in sorted(rows)]


def test_a_batch_is_one_gzip_ndjson_object_in_its_hour_with_the_events_in_order(
        s3_destination, moto_s3, s3_bucket):
    destination = s3_destination()
    rows = [AuditEventFactory(), UsageRecordFactory(), AuthEventFactory(), AuditEventFactory(),
            UsageRecordFactory()]
    expected = _carried_in_order(destination.cursor)
    assert {str(row.event_id) for row in rows} <= set(expected)
    result = delivery.pump(destination.pk)
    assert result.error == "" and result.delivered == len(expected) and result.batches == 1
    keys = moto_s3.keys(s3_bucket)
    assert len(keys) == 1
    match = KEY_RE.match(keys[0])
    assert match, keys[0]
    assert match.group(5) == destination.public_id
    documents = moto_s3.documents(s3_bucket, keys[0])
    assert [d["event_id"] for d in documents] == expected
    first = documents[0]["ingested_at"]  # the folder is its hour
    assert "/".join(match.groups()[:4]) == f"{first[0:4]}/{first[5:7]}/{first[8:10]}/{first[11:13]}"
    assert {d["kind"] for d in documents} == {"audit", "usage", "auth"}
    head = moto_s3.get(s3_bucket, keys[0])
    assert head["ContentType"] == "application/x-ndjson"
    assert head["ContentEncoding"] == "gzip"
    assert head["Metadata"]["logcenter-events"] == str(len(expected))
    assert head["Metadata"]["logcenter-first-event"] == expected[0]
    destination.refresh_from_db()
    assert destination.delivered_count == len(expected) and destination.last_error == ""
    # Caught up: nothing more is written.
    assert delivery.pump(destination.pk, force=True).delivered == 0
    assert len(moto_s3.keys(s3_bucket)) == 1


def test_batches_become_separate_objects_holding_every_event_once(s3_destination, moto_s3,
                                                                  s3_bucket):
    destination = s3_destination(batch_size=2, kinds=["usage"])
    UsageRecordFactory.create_batch(5)
    expected = _carried_in_order(destination.cursor)
    assert len(expected) == 5
    result = delivery.pump(destination.pk)
    assert result.delivered == 5 and result.batches == 3
    keys = moto_s3.keys(s3_bucket)
    assert len(keys) == 3 and all(KEY_RE.match(k) for k in keys)
    batches = sorted((moto_s3.documents(s3_bucket, key) for key in keys),
                     key=lambda docs: expected.index(docs[0]["event_id"]))
    assert [len(b) for b in batches] == [2, 2, 1]
    assert [d["event_id"] for b in batches for d in b] == expected


def test_a_batch_sent_again_overwrites_its_object(s3_destination, moto_s3, s3_bucket, staff):
    destination = s3_destination(kinds=["usage"])
    start = dict(destination.cursor)
    UsageRecordFactory.create_batch(3)
    delivery.pump(destination.pk)
    [key] = moto_s3.keys(s3_bucket)
    etag = moto_s3.get(s3_bucket, key)["ETag"]

    # Sent again from the same position (what a retry after a lost acknowledgement does):
    # the same object, byte for byte.
    services.destination_replay(staff, destination, cursor=services.cursor_text(start))
    assert delivery.pump(destination.pk).delivered == 3
    assert moto_s3.keys(s3_bucket) == [key]
    assert moto_s3.get(s3_bucket, key)["ETag"] == etag

    # Sent again with rows that arrived meanwhile: still that one object, now holding all.
    UsageRecordFactory.create_batch(2)
    destination.refresh_from_db()
    services.destination_replay(staff, destination, cursor=services.cursor_text(start))
    assert delivery.pump(destination.pk).delivered == 5
    assert moto_s3.keys(s3_bucket) == [key]
    assert [d["event_id"] for d in moto_s3.documents(s3_bucket, key)] == _carried_in_order(
        start)


def test_an_outage_is_recorded_without_a_secret_and_delivered_once_fixed(
        s3_destination, moto_s3, s3_bucket):
    closed = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    destination = s3_destination(endpoint_url=closed)
    rows = AuditEventFactory.create_batch(3)
    expected = _carried_in_order(destination.cursor)
    result = delivery.pump(destination.pk)
    assert "Could not reach the S3 endpoint" in result.error
    destination.refresh_from_db()
    assert destination.consecutive_failures == 1 and destination.failed_count == 1
    assert "Could not reach the S3 endpoint" in destination.last_error
    assert f"s3://{s3_bucket}/logs/" in destination.last_error
    assert SECRET_ACCESS_KEY not in destination.last_error
    assert destination.cursor["audit"] < rows[0].pk  # nothing skipped
    assert SECRET_ACCESS_KEY not in destination.credentials  # encrypted at rest

    Destination.objects.filter(pk=destination.pk).update(
        options={**destination.options, "endpoint_url": moto_s3.url})
    assert delivery.pump(destination.pk, force=True).error == ""
    [key] = moto_s3.keys(s3_bucket)
    documents = moto_s3.documents(s3_bucket, key)
    assert [d["event_id"] for d in documents][:len(expected)] == expected
    assert {str(row.event_id) for row in rows} <= {d["event_id"] for d in documents}
    destination.refresh_from_db()
    assert destination.consecutive_failures == 0
    assert destination.delivered_count == len(documents)


def test_the_stores_own_error_is_said_with_its_code(s3_destination, moto_s3):
    destination = s3_destination(endpoint="s3://no-such-bucket-here/x/")
    AuditEventFactory()
    result = delivery.pump(destination.pk)
    assert "S3 NoSuchBucket (HTTP 404)" in result.error
    assert "s3://no-such-bucket-here/x/" in result.error
    destination.refresh_from_db()
    assert destination.last_error == result.error


def test_without_keys_the_default_chain_is_used(s3_destination, moto_s3, s3_bucket,
                                                monkeypatch):
    destination = s3_destination(credentials={}, kinds=["usage"])
    assert destination.credentials == ""
    UsageRecordFactory()
    result = delivery.pump(destination.pk)
    assert result.error.startswith("No S3 credentials")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", ACCESS_KEY_ID)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET_ACCESS_KEY)
    assert delivery.pump(destination.pk, force=True).delivered == 1
    assert len(moto_s3.keys(s3_bucket)) == 1


def test_half_a_key_pair_is_refused_when_sending(s3_destination):
    destination = s3_destination(credentials={"access_key_id": ACCESS_KEY_ID})
    AuditEventFactory()
    result = delivery.pump(destination.pk)
    assert "both the access key ID and the secret access key" in result.error


def test_storage_class_and_encryption_are_asked_for(s3_destination, moto_s3, s3_bucket):
    destination = s3_destination(options={"storage_class": "STANDARD_IA",
                                           "server_side_encryption": "AES256"})
    AuditEventFactory()
    delivery.pump(destination.pk)
    [key] = moto_s3.keys(s3_bucket)
    head = moto_s3.client.head_object(Bucket=s3_bucket, Key=key)
    assert head["StorageClass"] == "STANDARD_IA"
    assert head["ServerSideEncryption"] == "AES256"


@pytest.mark.parametrize("endpoint", [
    "https://bucket.s3.amazonaws.com/", "s3://", "s3://Upper-Case/", "s3://ab/",
    "s3://bucket//double/", "s3://bucket/../up/", "s3://bucket/a\nb/", "s3://bu..cket/",
])
def test_an_endpoint_must_be_an_s3_address(make_destination, endpoint):
    with pytest.raises(ValidationError) as error:
        make_destination("s3", endpoint, CREDENTIALS)
    assert "endpoint" in error.value.message_dict


def test_the_endpoints_prefix_is_a_folder():
    assert parse_endpoint("s3://bucket") == ("bucket", "")
    assert parse_endpoint("s3://bucket/") == ("bucket", "")
    assert parse_endpoint("s3://my.bucket-1/audit/logs") == ("my.bucket-1", "audit/logs/")
    assert parse_endpoint("s3://my.bucket-1/audit/logs/") == ("my.bucket-1", "audit/logs/")


def test_the_client_is_made_once_per_sender(s3_destination):
    sender = protocol_for(s3_destination())
    assert sender.client() is sender.client()
    sender.close()
