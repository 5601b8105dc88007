"""Export jobs to object storage (`destination`): the API and the page upload the finished
file to an S3 destination the user may use (moto's S3 server here), keep it downloadable,
refuse any other destination naming the field, and fail (then retry) on an upload error."""

import json

import pytest
from django.contrib.messages import get_messages
from rest_framework.test import APIClient

from logcenter.exports import jobs as exports
from logcenter.models import AuditEvent, ExportJob
from logcenter.streams import services
from tests.factories import (FACTORIES, MembershipFactory, OrganizationFactory, StaffFactory)
from tests.logcenter.streams.s3_store import (  # noqa: F401 (fixtures)
    CREDENTIALS, SECRET_ACCESS_KEY, moto_s3, s3_bucket)

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path


def make_s3_destination(user, endpoint, store, **values):
    values = {"name": values.pop("name", "Archive"), "type": "s3", "endpoint": endpoint,
              "kinds": ["audit"], "batch_size": 500, "interval_seconds": 5,
              "options": {"endpoint_url": store.url, "region": "us-east-1"}, **values}
    return services.destination_save(user, values, credentials=CREDENTIALS)


@pytest.fixture
def archive(staff, moto_s3, s3_bucket):
    return make_s3_destination(staff, f"s3://{s3_bucket}/exports/", moto_s3)


def api_for(user):
    api = APIClient()
    api.force_authenticate(user)
    return api


def post_export(api, **body):
    return api.post("/api/v1/exports/", {"kind": "audit", "format": "ndjson",
                                         "filters": {"range": "all"}, **body}, format="json")


def test_an_export_to_a_destination_is_uploaded_and_still_downloadable(
        api_client, archive, moto_s3, s3_bucket):
    rows = FACTORIES["audit"].create_batch(3)
    response = post_export(api_client, destination=archive.public_id)
    assert response.status_code == 202, response.content
    body = response.json()
    assert body["status"] == "completed", body["error"]
    key = f"exports/logcenter-audit-{body['export_id']}.ndjson"
    assert body["destination"] == archive.public_id
    assert body["destination_url"] == f"s3://{s3_bucket}/{key}"
    assert moto_s3.keys(s3_bucket) == [key]
    stored = moto_s3.get(s3_bucket, key)
    assert stored["ContentType"] == "application/x-ndjson"
    uploaded = stored["Body"].read()
    job = ExportJob.objects.get(export_id=body["export_id"])
    assert job.destination_key == key
    assert uploaded == (exports.export_dir() / job.file_name).read_bytes()
    assert {str(r.event_id) for r in rows} <= {json.loads(line)["event_id"]
                                               for line in uploaded.splitlines()}
    download = api_client.get(body["download_url"])
    assert download.status_code == 200
    assert b"".join(download.streaming_content) == uploaded
    # The export's audit event says where the rows went.
    event = AuditEvent.objects.get(action="audit_log.exported")
    assert event.details["destination"] == f"s3://{s3_bucket}/{key}"
    listed = api_client.get("/api/v1/exports/").json()["results"]
    assert listed[0]["destination_url"] == body["destination_url"]


def test_an_s3_address_under_the_destination_picks_a_folder(api_client, archive, moto_s3,
                                                            s3_bucket):
    FACTORIES["audit"]()
    response = post_export(api_client, format="csv",
                           destination=f"s3://{s3_bucket}/exports/team-a/2026")
    assert response.status_code == 202, response.content
    body = response.json()
    key = f"exports/team-a/2026/logcenter-audit-{body['export_id']}.csv"
    assert body["status"] == "completed" and body["destination"] == archive.public_id
    assert moto_s3.keys(s3_bucket) == [key]
    assert moto_s3.get(s3_bucket, key)["ContentType"].startswith("text/csv")


@pytest.mark.parametrize("destination", [
    "dst_0000000000000000",  # no such destination
    "s3://{bucket}/elsewhere/",  # the bucket, outside the destination's prefix
    "s3://another-bucket/exports/",  # another bucket
    "s3://{bucket}/exports/../x/",
    "ftp://{bucket}/exports/",
    "archive",
])
def test_a_destination_that_is_none_of_yours_is_a_400_naming_it(api_client, archive,
                                                                 s3_bucket, destination):
    response = post_export(api_client, destination=destination.format(bucket=s3_bucket))
    assert response.status_code == 400
    assert list(response.json()) == ["destination"]
    assert not ExportJob.objects.exists()


def test_a_user_who_may_not_use_the_destination_gets_a_400(archive, moto_s3, s3_bucket):
    auditor = StaffFactory(roles=["Auditor"])  # exports audit rows, manages no stream
    other_admin = MembershipFactory(
        role="admin", organization=OrganizationFactory(plan="enterprise")).user
    for user in (auditor, other_admin):
        for destination in (archive.public_id, f"s3://{s3_bucket}/exports/"):
            response = post_export(api_for(user), destination=destination)
            assert response.status_code == 400, (user, response.content)
            assert "destination" in response.json()
    assert not ExportJob.objects.exists()


def test_an_organizations_admin_exports_to_their_organizations_destination_only(
        staff, moto_s3, s3_bucket):
    admin = MembershipFactory(role="admin",
                              organization=OrganizationFactory(plan="enterprise")).user
    theirs = make_s3_destination(admin, f"s3://{s3_bucket}/org/", moto_s3)
    # A platform destination scoped to their organization carries that organization's
    # rows: theirs to use, but not a platform administrator's, whose export holds every
    # organization's rows.
    scoped = make_s3_destination(staff, f"s3://{s3_bucket}/scoped/", moto_s3,
                                 organization=theirs.organization)
    FACTORIES["audit"](organization_id=theirs.organization.public_id)
    for destination in (theirs, scoped):
        response = post_export(api_for(admin), destination=destination.public_id)
        assert response.status_code == 202 and response.json()["status"] == "completed"
    for destination in (theirs, scoped):
        response = post_export(api_for(staff), destination=destination.public_id)
        assert response.status_code == 400 and "destination" in response.json()


def test_an_upload_failure_fails_the_job_saying_why_and_retry_works(
        staff, api_client, moto_s3):
    destination = make_s3_destination(staff, "s3://bucket-made-later/exports/", moto_s3)
    FACTORIES["audit"]()
    response = post_export(api_client, destination=destination.public_id)
    assert response.status_code == 202
    body = response.json()
    assert body["status"] == "failed"
    assert body["error"].startswith("The file could not be uploaded: S3 NoSuchBucket")
    assert "s3://bucket-made-later/exports/logcenter-audit-" in body["error"]
    assert SECRET_ACCESS_KEY not in body["error"]
    assert body["download_url"] is None
    assert list(exports.export_dir().iterdir()) == []  # no file of a failed job

    moto_s3.client.create_bucket(Bucket="bucket-made-later")
    retried = api_client.post(f"/api/v1/exports/{body['export_id']}/retry/", format="json")
    assert retried.status_code == 202 and retried.json()["status"] == "completed"
    assert moto_s3.keys("bucket-made-later") == [
        f"exports/logcenter-audit-{body['export_id']}.ndjson"]


def test_a_destination_deleted_before_the_upload_fails_the_job(staff, archive):
    job = ExportJob.objects.create(user=staff, kind="audit", format="csv",
                                   params={"range": ["all"]}, columns=["event_id"],
                                   destination=archive, destination_key="exports/x.csv")
    services.destination_delete(staff, archive)
    with pytest.raises(exports.UploadFailed):
        exports.export_run(job.pk)
    job.refresh_from_db()
    assert job.status == "failed" and "destination was deleted" in job.error


def test_the_page_offers_the_destinations_and_exports_to_one(staff_client, archive, moto_s3,
                                                              s3_bucket):
    FACTORIES["audit"](action="config.updated")
    page = staff_client.get("/logs/audit/?range=all").content.decode()
    assert f'<option value="{archive.public_id}">' in page
    assert 'name="destination_folder"' in page
    response = staff_client.post("/logs/audit/export/?range=all&action=config.updated",
                                 {"format": "csv", "destination": archive.public_id,
                                  "destination_folder": "/q4/"})
    assert response.status_code == 302 and response["Location"] == "/exports/"
    job = ExportJob.objects.get()
    assert job.status == "completed", job.error
    key = f"exports/q4/logcenter-audit-{job.export_id}.csv"
    assert job.destination_key == key and moto_s3.keys(s3_bucket) == [key]
    jobs_page = staff_client.get("/exports/").content.decode()
    assert f"s3://{s3_bucket}/{key}" in jobs_page and "Download" in jobs_page


def test_the_page_says_what_is_wrong_with_a_destination(staff_client, archive):
    response = staff_client.post("/logs/audit/export/?range=all",
                                 {"format": "csv", "destination": "dst_0000000000000000"})
    assert response.status_code == 302
    assert response["Location"].startswith("/logs/audit/?")
    [message] = [str(m) for m in get_messages(response.wsgi_request)]
    assert message.startswith("Export destination: dst_0000000000000000 is not an S3 "
                              "destination")
    response = staff_client.post("/logs/audit/export/?range=all",
                                 {"format": "csv", "destination": archive.public_id,
                                  "destination_folder": "a/../b"})
    message = [str(m) for m in get_messages(response.wsgi_request)][-1]
    assert message.startswith("Export destination:") and ".." in message
    assert not ExportJob.objects.exists()


def test_a_user_without_destinations_sees_no_choice(client, archive):
    auditor = StaffFactory(roles=["Auditor"])
    client.force_login(auditor)
    page = client.get("/logs/audit/?range=all").content.decode()
    assert 'name="destination"' not in page and archive.public_id not in page


def test_upload_file_puts_a_large_file_in_parts_and_reports_progress(archive, moto_s3,
                                                                     s3_bucket, tmp_path):
    from logcenter.streams.protocols.s3 import upload_file

    path = tmp_path / "big.ndjson"
    path.write_bytes(b'{"n": 1}\n' * (1_100_000))  # 9.9 MB: past the 8 MB part size
    sent = []
    url = upload_file(archive, path, "exports/big.ndjson",
                      content_type="application/x-ndjson", progress=sent.append)
    assert url == f"s3://{s3_bucket}/exports/big.ndjson"
    head = moto_s3.client.head_object(Bucket=s3_bucket, Key="exports/big.ndjson")
    assert head["ContentLength"] == path.stat().st_size == sum(sent)
    assert head["ETag"].strip('"').endswith("-2")  # two parts
    assert head["ContentType"] == "application/x-ndjson"
