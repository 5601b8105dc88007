"""Exports: same rows as the list, safe cells, role masking, permissions, jobs and files."""

import csv
import io
import json
from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.exceptions import PermissionDenied
from django.utils import timezone
from rest_framework.test import APIClient

from logcenter.exports import jobs as exports
from logcenter.models import AuditEvent, ExportJob, SystemEvent
from tests.factories import FACTORIES, AuditEventFactory, MemberFactory, StaffFactory

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path


def read_csv(job):
    """The file as a spreadsheet reads it: rows only, exactly the job's row count."""
    with open(exports.export_dir() / job.file_name, encoding="utf-8-sig", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == job.rows_written
    return rows, exports.export_manifest(job)


def run_export(user, kind, fmt="csv", columns="all", **params):
    job = exports.export_create(user=user, kind_slug=kind, fmt=fmt, params=params,
                                columns=columns)
    job.refresh_from_db()
    assert job.status == ExportJob.Status.COMPLETED, job.error
    return job


def test_export_holds_the_api_lists_rows_in_the_same_order(staff):
    for cost in ("3", "1", "2", "2", "5"):
        FACTORIES["usage"](cost=Decimal(cost), platform_model="gpt-4o")
    FACTORIES["usage"](platform_model="other")
    query = {"platform_model": "gpt-4o", "ordering": "-cost", "range": "all"}
    api = APIClient()
    api.force_authenticate(staff)
    listed = [r["event_id"] for r in api.get("/api/v1/usage-records/", query).json()["results"]]
    job = run_export(staff, "usage", **query)
    rows, manifest = read_csv(job)
    assert [r["event_id"] for r in rows] == listed and len(listed) == 5
    assert job.rows_written == 5 and manifest["row_count"] == 5
    assert "platform_model=gpt-4o" in manifest["filter"] and manifest["snapshot_at"]

    for fmt in ("json", "ndjson"):
        job = run_export(staff, "usage", fmt=fmt, **query)
        text = (exports.export_dir() / job.file_name).read_text()
        if fmt == "json":
            doc = json.loads(text)
            ids, meta = [r["event_id"] for r in doc["rows"]], doc["export"]
            assert doc["row_count"] == 5
            assert doc["rows"][0]["cost"] == "5.00000000"  # money as a decimal string
        else:  # rows only, one per line
            lines = [json.loads(line) for line in text.splitlines()]
            ids, meta = [r["event_id"] for r in lines], exports.export_manifest(job)
        assert ids == listed
        assert meta["filter"] and meta["snapshot_at"].endswith("Z")


def test_formula_and_control_characters_are_neutralised_in_csv(staff):
    FACTORIES["audit"](resource_name="=HYPERLINK(\"http://evil\")", reason="+1+1",
                       actor_name="@admin", category="-2", resource_id="\tcmd",
                       request_id="line1\r\nforged", action="config.updated")
    job = run_export(staff, "audit", action="config.updated", range="all")
    rows, _ = read_csv(job)
    row = rows[0]
    assert row["resource_name"] == "'=HYPERLINK(\"http://evil\")"
    assert row["reason"] == "'+1+1" and row["actor_name"] == "'@admin"
    assert row["category"] == "'-2" and row["resource_id"] == "'\\tcmd"
    assert row["request_id"] == "line1\\r\\nforged"


def test_excel_bom_option(staff):
    FACTORIES["system"]()
    job = exports.export_create(user=staff, kind_slug="system", fmt="csv", params={},
                                excel_bom=True)
    job.refresh_from_db()
    assert (exports.export_dir() / job.file_name).read_bytes().startswith(b"\xef\xbb\xbf")


def test_export_needs_the_permission_and_is_audited(staff):
    support = StaffFactory(username="sup", roles=["Support"])
    with pytest.raises(PermissionDenied):
        exports.export_create(user=support, kind_slug="auth", fmt="csv", params={})
    FACTORIES["auth"].create_batch(2)
    job = run_export(staff, "auth", range="all", result="success")
    event = AuditEvent.objects.get(action="auth_log.exported")
    assert event.actor_name == staff.username
    assert event.details["rows"] == job.rows_written and "result=success" in event.details["filter"]
    assert SystemEvent.objects.filter(event="export.completed").exists()


def test_member_exports_only_their_own_rows_masked():
    member = MemberFactory(username="exporter")
    mine = FACTORIES["usage"](user_id=str(member.pk), ip="198.51.100.1",
                              error_message="upstream said no")
    FACTORIES["usage"](user_id="someone-else")
    job = run_export(member, "usage", range="all")
    rows, _ = read_csv(job)
    assert [r["event_id"] for r in rows] == [str(mine.event_id)]
    # Their own IP is theirs to see; the upstream's error text stays masked.
    assert rows[0]["ip"] == "198.51.100.1" and rows[0]["cost"]
    assert rows[0]["error_message"] == "[masked]"


def test_export_leaves_out_fields_the_role_may_not_see():
    from django.contrib.auth.models import Permission

    support = StaffFactory(username="sup2", roles=["Support"])
    # Support sees usage without cost; with an export permission the file has no cost either.
    support.user_permissions.add(Permission.objects.get(codename="export_usagerecord"))
    FACTORIES["usage"](ip="198.51.100.9")
    rows, _ = read_csv(run_export(support, "usage", range="all"))
    assert rows and not {"cost", "quota", "credits", "billing_items"} & set(rows[0])
    assert rows[0]["ip"] == "[masked]"


def test_bad_filter_is_rejected_before_queueing(staff):
    from logcenter.core.selectors import InvalidLogQuery

    with pytest.raises(InvalidLogQuery):
        exports.export_create(user=staff, kind_slug="usage", fmt="csv",
                              params={"cost_min": "5", "cost_max": "1"})
    assert not ExportJob.objects.exists()


def test_api_create_poll_download_and_permission_rechecked(staff):
    FACTORIES["system"].create_batch(3, level="error")
    api = APIClient()
    api.force_authenticate(staff)
    created = api.post("/api/v1/exports/?level=error", {"kind": "system", "format": "ndjson"},
                       format="json")
    assert created.status_code == 202
    job = api.get(f"/api/v1/exports/{created.json()['export_id']}/").json()
    assert job["status"] == "completed" and job["progress"] == 100 and job["rows_written"] == 3
    assert job["filter"] == "level=error"
    download = api.get(job["download_url"])
    assert download.status_code == 200
    assert len(b"".join(download.streaming_content).splitlines()) == 3  # rows only
    assert download["X-Logcenter-Row-Count"] == "3"
    assert download["X-Logcenter-Filter"] == "level=error"
    assert download["X-Logcenter-Snapshot-At"] == job["snapshot_at"]
    manifest = api.get(job["manifest_url"]).json()
    assert manifest["row_count"] == 3 and manifest["filter"] == "level=error"
    assert manifest["window_end"] == job["snapshot_at"] and manifest["window_start"]

    # Losing the role takes the file away too.
    staff.groups.clear()
    api.force_authenticate(type(staff).objects.get(pk=staff.pk))  # a fresh permission cache
    assert api.get(job["download_url"]).status_code == 403
    other = APIClient()
    other.force_authenticate(StaffFactory(username="nosy"))
    assert other.get(job["download_url"]).status_code == 404


@pytest.mark.parametrize("body, field", [
    ({"kind": "nope", "format": "csv"}, "kind"),
    ({"kind": "usage", "format": "xlsx"}, "format"),
    ({"kind": "usage", "format": "csv", "filters": {"page_size": "x", "cost_min": "a"}},
     "cost_min"),
])
def test_api_bad_export_requests_are_400(api_client, body, field):
    response = api_client.post("/api/v1/exports/", body, format="json")
    assert response.status_code == 400 and field in response.json()


def test_export_button_and_jobs_page(staff_client):
    FACTORIES["usage"](platform_model="gpt-4o")
    response = staff_client.post("/logs/usage/export/?platform_model=gpt-4o&range=all",
                                 {"format": "csv"})
    assert response.status_code == 302 and response["Location"] == "/exports/"
    page = staff_client.get("/exports/").content.decode()
    assert "platform_model=gpt-4o" in page and "Completed" in page and "Download" in page
    job = ExportJob.objects.get()
    assert staff_client.get(f"/exports/{job.export_id}/download/").status_code == 200


def test_expired_files_are_deleted(staff):
    from datetime import timedelta

    from django.utils import timezone

    FACTORIES["system"]()
    job = run_export(staff, "system")
    path = exports.export_dir() / job.file_name
    assert path.exists()
    assert exports.exports_expire(now=timezone.now() + timedelta(days=8)) == 1
    job.refresh_from_db()
    assert job.status == "expired" and not path.exists()
    exports.export_retry(job)
    job.refresh_from_db()
    assert job.status == "completed" and path.exists()


@pytest.mark.parametrize("fmt", ["json", "ndjson"])
def test_json_exports_mask_like_csv(fmt):
    member = MemberFactory(username=f"json-{fmt}")
    FACTORIES["usage"](user_id=str(member.pk), ip="198.51.100.3", user_agent="Agent/1",
                       error_message="", metadata={"env": "prod"})
    job = run_export(member, "usage", fmt=fmt, range="all")
    text = (exports.export_dir() / job.file_name).read_text()
    row = (json.loads(text)["rows"][0] if fmt == "json"
           else json.loads(text.splitlines()[0]))
    assert row["ip"] == "198.51.100.3" and row["user_agent"] == "Agent/1"  # their own
    assert row["error_message"] == ""  # empty values stay empty
    assert row["metadata"] == {"env": "prod"} and row["is_stream"] is False
    assert isinstance(row["prompt_tokens"], int) and row["occurred_at"].endswith("Z")


def test_a_large_csv_treats_only_the_rows_that_need_it_and_keeps_their_order(staff):
    """Rows are checked a thousand at a time; a hit sends only its rows cell by cell."""
    now = timezone.now()
    rows = [AuditEventFactory.build(action="bulk.check", occurred_at=now - timedelta(seconds=i),
                                    resource_name=f"plain {i}") for i in range(1_250)]
    rows[10].resource_name = "=SUM(A1:A9)"
    rows[700].reason = "first\nsecond"  # a raw line break inside a quoted cell
    rows[1_100].resource_id = "bidi\u202eoverride and\u2028separator\u200fmark"
    rows[1_101].details = {"note": "-not a cell start"}
    AuditEvent.objects.bulk_create(rows)
    job = run_export(staff, "audit", action="bulk.check", range="all")
    raw = (exports.export_dir() / job.file_name).read_bytes()
    assert raw.count(b"\r\n") == 1 + 1_250 and b"\n" not in raw.replace(b"\r\n", b"")
    parsed, manifest = read_csv(job)
    assert manifest["row_count"] == 1_250
    assert [r["event_id"] for r in parsed] == [str(r.event_id) for r in rows]
    assert parsed[10]["resource_name"] == "'=SUM(A1:A9)"
    assert parsed[700]["reason"] == "first\\nsecond"
    assert parsed[1_100]["resource_id"] == "bidi\\u202eoverride and\\u2028separator\\u200fmark"
    assert json.loads(parsed[1_101]["details"]) == {"note": "-not a cell start"}
    assert parsed[11]["resource_name"] == "plain 11" and parsed[1_249]["reason"] == rows[-1].reason


def test_the_copy_rows_byte_check_knows_every_control_character_the_escaper_knows():
    from logcenter.core.text import CONTROL_RE

    for code in range(0x80, 0x10000):
        if 0xD800 <= code <= 0xDFFF:
            continue
        char = chr(code)
        assert bool(CONTROL_RE.match(char)) == bool(
            exports._WIDE_CONTROLS.search(char.encode())), hex(code)
        if CONTROL_RE.match(char):
            assert exports._needs_treatment(f"a,b{char}c\n".encode(), 1)


@pytest.mark.parametrize("value, text", [(Decimal("0E-8"), "0.00000000"),
                                         (Decimal("1.5E-7"), "0.00000015"),
                                         (Decimal("12.34000000"), "12.34000000")])
def test_money_is_written_in_plain_digits(value, text):
    from logcenter.exports.jobs import csv_cell

    assert csv_cell(value) == text


def test_a_csv_module_read_has_exactly_the_jobs_row_count_rows_only(staff):
    """A spreadsheet's or data frame's reader sees rows only: no metadata line at the end."""
    FACTORIES["auth"].create_batch(4, result="failure")
    job = exports.export_create(user=staff, kind_slug="auth", fmt="csv",
                                params={"range": "all", "result": "failure"})
    job.refresh_from_db()
    with open(exports.export_dir() / job.file_name, encoding="utf-8-sig", newline="") as fh:
        records = list(csv.reader(fh))
    header, rows = records[0], records[1:]
    assert job.rows_written == 4 and len(rows) == 4
    assert all(len(row) == len(header) and row[0] for row in rows)
    assert not any(cell.startswith("#") for row in rows for cell in row)
    # The snapshot is in the job's record instead.
    assert job.snapshot_at and job.window_end == job.snapshot_at and job.window_start is None
    assert job.params == {"range": ["all"], "result": ["failure"]}


def test_csv_has_the_tabs_visible_columns_by_default_and_all_on_request(staff):
    from logcenter.core.registry import registry

    FACTORIES["auth"](ip="192.0.2.1")
    default = exports.export_create(user=staff, kind_slug="auth", fmt="csv",
                                    params={"range": "all"})
    default.refresh_from_db()
    header = read_csv(default)[0][0].keys()
    table = [n for n in registry["auth"].table.base_columns]
    assert list(header) == ["event_id", *table]
    every = run_export(staff, "auth", range="all")  # columns="all"
    assert {"user_agent", "request_id", "metadata"} <= set(read_csv(every)[0][0])
    chosen = run_export(staff, "auth", columns=["ip", "event"], range="all")
    assert list(read_csv(chosen)[0][0]) == ["ip", "event"]


def test_csv_takes_the_columns_the_list_shows_its_user(staff):
    """The column chooser's choice (remembered per user) or the query's own `columns` (a
    saved view's) are the file's columns by default, after event_id; an explicit choice
    wins."""
    from logcenter.models import ColumnPreference

    FACTORIES["auth"](ip="192.0.2.1")
    ColumnPreference.objects.create(user=staff, kind="auth", columns=["event", "ip"])
    remembered = exports.export_create(user=staff, kind_slug="auth", fmt="csv",
                                       params={"range": "all"})
    remembered.refresh_from_db()
    assert list(read_csv(remembered)[0][0]) == ["event_id", "occurred_at", "event", "ip"]
    asked = exports.export_create(user=staff, kind_slug="auth", fmt="csv",
                                  params={"range": "all", "columns": "user_agent,event"})
    asked.refresh_from_db()
    assert list(read_csv(asked)[0][0]) == ["event_id", "occurred_at", "user_agent", "event"]
    explicit = run_export(staff, "auth", columns=["ip"], range="all")
    assert list(read_csv(explicit)[0][0]) == ["ip"]


@pytest.mark.parametrize("columns, named", [(["event", "nope"], "nope"),
                                            ("cost", "cost"),  # not an auth field
                                            (["event", "event"], "twice")])
def test_unknown_columns_are_refused_naming_the_field(staff, columns, named):
    with pytest.raises(exports.InvalidExportOption, match=named):
        exports.export_create(user=staff, kind_slug="auth", fmt="csv", params={},
                              columns=columns)
    api = APIClient()
    api.force_authenticate(staff)
    response = api.post("/api/v1/exports/", {"kind": "auth", "format": "csv",
                                             "columns": columns}, format="json")
    assert response.status_code == 400 and named in response.json()["columns"][0]
    assert not ExportJob.objects.exists()


def test_support_may_not_export_cost_columns_it_may_not_see():
    from django.contrib.auth.models import Permission

    support = StaffFactory(username="sup3", roles=["Support"])
    support.user_permissions.add(Permission.objects.get(codename="export_usagerecord"))
    with pytest.raises(exports.InvalidExportOption, match="cost"):
        exports.export_create(user=support, kind_slug="usage", fmt="csv", params={},
                              columns=["event_id", "cost"])


def test_local_times_add_a_column_in_the_users_time_zone(staff):
    from datetime import datetime
    from datetime import timezone as dt_timezone

    staff.timezone = "Asia/Shanghai"
    staff.save(update_fields=["timezone"])
    moment = datetime(2026, 3, 1, 0, 30, tzinfo=dt_timezone.utc)
    FACTORIES["system"](occurred_at=moment, event="tz.check")
    job = exports.export_create(user=staff, kind_slug="system", fmt="csv", params={
        "range": "all", "event": "tz.check"}, columns=["event_id", "occurred_at"],
        local_times=True)
    job.refresh_from_db()
    rows, manifest = read_csv(job)
    assert rows[0]["occurred_at"] == "2026-03-01T00:30:00.000000Z"  # UTC stays UTC
    assert rows[0]["occurred_at_local"] == "2026-03-01T08:30:00.000000+08:00"
    assert manifest["time_zone"] == "Asia/Shanghai"
    assert manifest["columns"] == ["event_id", "occurred_at", "occurred_at_local"]


@pytest.mark.parametrize("language, bom", [("zh-hans", True), ("zh-hant", True),
                                           ("en", False), ("", False)])
def test_the_bom_follows_the_users_language_unless_chosen(staff_client, staff, language, bom):
    staff.language = language
    staff.save(update_fields=["language"])
    FACTORIES["system"]()
    staff_client.post("/logs/system/export/?range=all", {"format": "csv"})
    job = ExportJob.objects.get()
    raw = (exports.export_dir() / job.file_name).read_bytes()
    assert job.excel_bom is bom and raw.startswith(b"\xef\xbb\xbf") is bom
    # The choice overrides the language either way.
    staff_client.post("/logs/system/export/?range=all",
                      {"format": "csv", "excel_bom": "off" if bom else "on"})
    other = ExportJob.objects.exclude(pk=job.pk).get()
    assert other.excel_bom is not bom
