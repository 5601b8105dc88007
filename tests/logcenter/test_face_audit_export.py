"""Seed 004's `POST /api/audit/export`, from the document's own example: one export job
per kind the filters select, holding exactly the rows `GET /api/audit/logs` lists for the
same filters, to the S3 destination named; bad input in the document's error shape."""

import csv
import io
import json
import uuid
from datetime import timedelta

import pytest
from django.db.models import Max
from django.utils import timezone
from rest_framework.test import APIClient

from logcenter.core.registry import registry
from logcenter.exports import jobs as exports
from logcenter.models import ExportJob
from logcenter.streams import services
from tests.factories import FACTORIES, MembershipFactory, OrganizationFactory, StaffFactory
from tests.logcenter.streams.s3_store import CREDENTIALS, moto_s3, s3_bucket  # noqa: F401

pytestmark = pytest.mark.django_db
ITEM_FIELDS = {"exportId", "kind", "format", "status", "destination", "statusUrl",
               "downloadUrl"}


@pytest.fixture(autouse=True)
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path


def _data():
    """The rows of the query API's tests: each kind, failures and successes."""
    now = timezone.now()
    return now, {
        "login_failed": FACTORIES["auth"](event="login.failed", result="failure",
                                          actor_id="user-123", occurred_at=now),
        "login_ok": FACTORIES["auth"](event="login.succeeded", result="success",
                                      actor_id="user-123", occurred_at=now - timedelta(minutes=1)),
        "role": FACTORIES["audit"](action="role.assigned", category="role", result="success",
                                   actor_id="user-123", occurred_at=now - timedelta(minutes=2)),
        "read": FACTORIES["audit"](action="audit.viewed", category="log_access",
                                   actor_id="user-9", occurred_at=now - timedelta(minutes=3)),
        "upstream": FACTORIES["system"](source="upstream", event="timeout", level="error",
                                        actor_id="user-9", occurred_at=now - timedelta(minutes=4)),
        "quiet": FACTORIES["system"](source="upstream", event="retry", level="info",
                                     occurred_at=now - timedelta(minutes=4)),
        "call": FACTORIES["usage"](endpoint="chat", status="error", actor_id="user-123",
                                   occurred_at=now - timedelta(minutes=5)),
        "embed": FACTORIES["usage"](endpoint="embedding", status="success",
                                    occurred_at=now - timedelta(minutes=6)),
    }


def _file_event_ids(job):
    """The event ids in an export job's file (CSV, JSON or NDJSON)."""
    job.refresh_from_db()
    assert job.status == "completed", job.error
    text = (exports.export_dir() / job.file_name).read_text(encoding="utf-8-sig")
    if job.format == "csv":
        return [row["event_id"] for row in csv.DictReader(io.StringIO(text))]
    if job.format == "json":
        return [row["event_id"] for row in json.loads(text)["rows"]]
    return [json.loads(line)["event_id"] for line in text.splitlines()]


def _exported(body):
    """{kind: [event ids]} of the answer's jobs."""
    return {item["kind"]: _file_event_ids(ExportJob.objects.get(export_id=item["exportId"]))
            for item in body["exports"]}


def _listed(api, filters):
    """The ids GET /api/audit/logs lists for the same filters, by kind."""
    body = api.get("/api/audit/logs", {**filters, "limit": "1000"}).json()
    found = {}
    for log in body["logs"]:
        kind, _, event_id = log["id"].partition("-")
        found.setdefault(kind, []).append(event_id)
    return found


def test_the_documents_example_request(api_client, staff, moto_s3, s3_bucket):
    archive = services.destination_save(staff, {
        "name": "Audit archive", "type": "s3", "endpoint": f"s3://{s3_bucket}/audit-logs/",
        "kinds": ["audit"], "batch_size": 500,
        "options": {"endpoint_url": moto_s3.url}}, credentials=CREDENTIALS)
    now, rows = _data()
    filters = {"startTime": (now - timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ"),
               "endTime": (now + timedelta(minutes=1)).strftime("%Y-%m-%dT%H:%M:%SZ"),
               "eventType": "auth.*", "actorId": "user-123", "result": "failure"}
    response = api_client.post("/api/audit/export", {
        "format": "csv", "filters": filters,
        "destination": f"s3://{s3_bucket}/audit-logs/"}, format="json")
    assert response.status_code == 202, response.content
    body = response.json()
    assert set(body) == {"exports"}
    # auth.* can match the auth kind, an audit action (auth.…) and a system source (auth):
    # a file each, the auth one holding the failed sign-in.
    by_kind = {item["kind"]: item for item in body["exports"]}
    assert sorted(by_kind) == ["audit", "auth", "system"]
    assert all(set(item) == ITEM_FIELDS for item in body["exports"])
    item = by_kind["auth"]
    key = f"audit-logs/logcenter-auth-{item['exportId']}.csv"
    assert (item["kind"], item["format"], item["status"]) == ("auth", "csv", "completed")
    assert item["destination"] == f"s3://{s3_bucket}/{key}"
    assert item["statusUrl"].endswith(f"/api/v1/exports/{item['exportId']}/")
    assert item["downloadUrl"].endswith(f"/api/v1/exports/{item['exportId']}/download/")
    job = ExportJob.objects.get(export_id=item["exportId"])
    assert job.destination == archive and job.columns  # every field
    assert _file_event_ids(job) == [str(rows["login_failed"].event_id)]
    for other in ("audit", "system"):
        assert _file_event_ids(ExportJob.objects.get(
            export_id=by_kind[other]["exportId"])) == []
    assert moto_s3.keys(s3_bucket) == sorted(
        f"audit-logs/logcenter-{kind}-{by_kind[kind]['exportId']}.csv" for kind in by_kind)
    uploaded = moto_s3.get(s3_bucket, key)["Body"].read()
    assert uploaded == (exports.export_dir() / job.file_name).read_bytes()
    # The job is followed like any other export.
    status = api_client.get(item["statusUrl"]).json()
    assert status["destination_url"] == item["destination"]


@pytest.mark.parametrize("filters", [
    {},
    {"eventType": "*"},
    {"eventType": "auth.*"},
    {"eventType": "auth.login.failure"},
    {"eventType": "auth.login.success"},
    {"eventType": "role.*"},
    {"eventType": "upstream.*"},
    {"eventType": "upstream.timeout"},
    {"eventType": "usage.chat"},
    {"eventType": "usage.*"},
    {"eventType": "nothing.*"},
    {"result": "failure"},
    {"result": "success"},
    {"eventType": "upstream.*", "result": "success"},
    {"actorId": "user-123"},
    {"actorId": "user-123", "eventType": "*", "result": "failure"},
])
def test_the_files_hold_exactly_what_the_query_api_lists(api_client, filters):
    """The same rows, each kind's newest first (ties: the list's order, by id)."""
    _data()
    listed = _listed(api_client, filters)
    # The jobs write rows of their own as they go (a kind's export's audit and system
    # events), which a later kind's file may hold: those are left out of the comparison.
    tops = {kind.slug: kind.model.objects.aggregate(m=Max("id"))["m"] or 0
            for kind in registry}
    response = api_client.post("/api/audit/export", {"format": "ndjson", "filters": filters},
                               format="json")
    assert response.status_code == 202, response.content
    exported = _exported(response.json())
    before = {kind: sorted(str(e) for e in registry[kind].model.objects.filter(
        event_id__in=ids, id__lte=tops[kind]).values_list("event_id", flat=True))
        for kind, ids in exported.items()}
    assert {kind: ids for kind, ids in before.items() if ids} == {
        kind: sorted(ids) for kind, ids in listed.items()}
    for kind, ids in exported.items():
        times = dict(registry[kind].model.objects.filter(event_id__in=ids)
                     .values_list("event_id", "occurred_at"))
        assert [times[i] for i in map(uuid.UUID, ids)] == sorted(times.values(), reverse=True)
    assert all(item["destination"] is None for item in response.json()["exports"])


def test_a_job_per_kind_whose_event_types_the_pattern_can_match(api_client):
    _data()
    # auth.* is also an audit action's start (auth.…) and a system source (auth), as in
    # the query API; never a usage endpoint.
    body = api_client.post("/api/audit/export", {"filters": {"eventType": "auth.*"}},
                           format="json").json()
    assert sorted(item["kind"] for item in body["exports"]) == ["audit", "auth", "system"]
    body = api_client.post("/api/audit/export", {"filters": {"eventType": "usage.chat"}},
                           format="json").json()
    assert sorted(item["kind"] for item in body["exports"]) == ["audit", "system", "usage"]
    body = api_client.post("/api/audit/export", {"filters": {"eventType": "usage.*"}},
                           format="json").json()
    assert sorted(item["kind"] for item in body["exports"]) == ["audit", "system", "usage"]
    body = api_client.post("/api/audit/export",
                           {"filters": {"eventType": "usage.chat.*"}}, format="json").json()
    assert sorted(item["kind"] for item in body["exports"]) == ["audit", "system"]


@pytest.mark.parametrize("body,parameter", [
    ({"format": "xml"}, "format"),
    ({"format": "csv", "limit": 10}, "limit"),
    ({"filters": "auth.*"}, "filters"),
    ({"filters": {"limit": "10"}}, "filters.limit"),
    ({"filters": {"cursor": "x"}}, "filters.cursor"),
    ({"filters": {"result": "maybe"}}, "filters.result"),
    ({"filters": {"eventType": "*.failure"}}, "filters.eventType"),
    ({"filters": {"eventType": "a*b"}}, "filters.eventType"),
    ({"filters": {"eventType": ["auth.*"]}}, "filters.eventType"),
    ({"filters": {"startTime": "yesterday-ish"}}, "filters.startTime"),
    ({"filters": {"startTime": "2026-01-02T00:00:00Z", "endTime": "2026-01-01T00:00:00Z"}},
     "filters.endTime"),
    ({"destination": "s3://not-yours/audit-logs/"}, "destination"),
    ({"destination": "dst_0000000000000000"}, "destination"),
    ({"destination": "https://example.com/upload"}, "destination"),
    ({"destination": 7}, "destination"),
])
def test_bad_input_is_a_400_in_the_documents_shape(api_client, body, parameter):
    response = api_client.post("/api/audit/export", body, format="json")
    assert response.status_code == 400, response.content
    error = response.json()["error"]
    assert error["code"] == "invalid_parameter" and error["message"]
    assert error["parameter"] == parameter
    assert not ExportJob.objects.exists()


def test_a_body_that_is_not_an_object_is_a_400(api_client):
    response = api_client.post("/api/audit/export", ["csv"], format="json")
    assert response.status_code == 400 and response.json()["error"]["code"] == "invalid_parameter"


def test_a_destination_you_may_not_use_is_refused(staff, moto_s3, s3_bucket):
    services.destination_save(staff, {
        "name": "Platform archive", "type": "s3", "endpoint": f"s3://{s3_bucket}/audit-logs/",
        "kinds": ["audit"], "batch_size": 500, "options": {"endpoint_url": moto_s3.url}},
        credentials=CREDENTIALS)
    auditor = StaffFactory(roles=["Auditor"])  # exports audit rows, manages no destination
    api = APIClient()
    api.force_authenticate(auditor)
    response = api.post("/api/audit/export",
                        {"destination": f"s3://{s3_bucket}/audit-logs/"}, format="json")
    assert response.status_code == 400
    assert response.json()["error"]["parameter"] == "destination"
    assert not ExportJob.objects.exists()


def test_a_role_without_exports_is_a_403_and_no_sign_in_a_401(client):
    support = StaffFactory(roles=["Support"])
    api = APIClient()
    api.force_authenticate(support)
    response = api.post("/api/audit/export", {}, format="json")
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "forbidden"
    anonymous = APIClient().post("/api/audit/export", {}, format="json")
    assert anonymous.status_code in (401, 403)
    assert anonymous.json()["error"]["code"] == "unauthorized"


def test_the_plans_formats_apply(db):
    owner = MembershipFactory(role="owner", organization=OrganizationFactory(plan="pro")).user
    api = APIClient()
    api.force_authenticate(owner)
    response = api.post("/api/audit/export", {"format": "ndjson"}, format="json")
    assert response.status_code == 403
    assert "Pro plan" in response.json()["error"]["message"]
    assert not ExportJob.objects.exists()
    assert api.post("/api/audit/export", {"format": "csv"}, format="json").status_code == 202


def test_each_user_exports_the_kinds_they_may(db):
    from logcenter.core.access import access_for

    member = MembershipFactory(role="member",
                               organization=OrganizationFactory(plan="enterprise")).user
    auditor = MembershipFactory(role="auditor",
                                organization=OrganizationFactory(plan="enterprise")).user
    for user in (member, auditor):
        api = APIClient()
        api.force_authenticate(user)
        mine = {kind.slug for kind in registry if access_for(user, kind).can_view
                and access_for(user, kind).can_export}
        response = api.post("/api/audit/export", {"format": "csv"}, format="json")
        if not mine:
            assert response.status_code == 403
            assert response.json()["error"]["code"] == "forbidden"
            continue
        assert response.status_code == 202
        assert {item["kind"] for item in response.json()["exports"]} == mine
