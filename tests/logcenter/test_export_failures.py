"""A failure inside an export task is reported as that failure, not as the task queue's."""

import pytest
from django.test import Client
from rest_framework.test import APIClient

from logcenter.exports import jobs as exports
from logcenter.models import ExportJob, SystemEvent
from tests.factories import FACTORIES

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path


def test_a_failing_export_task_reports_its_own_error_not_the_queue(staff, monkeypatch):
    FACTORIES["system"]()

    def disk_full(self):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(exports.ExportWriter, "start", disk_full)
    api = APIClient()
    api.force_authenticate(staff)
    response = api.post("/api/v1/exports/", {"kind": "system", "format": "csv"}, format="json")
    assert response.status_code != 503 and response.status_code < 500, response.content
    job = ExportJob.objects.get()
    assert job.status == ExportJob.Status.FAILED
    assert job.error == "OSError: [Errno 28] No space left on device"
    assert response.json()["status"] == "failed" and "queue" not in response.json()["error"]
    events = set(SystemEvent.objects.values_list("event", flat=True))
    assert "export.failed" in events and "export.queue_unavailable" not in events

    # The page's Export button says the same: no "task queue is unavailable".
    client = Client()
    client.force_login(staff)
    page = client.post("/logs/system/export/", {"format": "csv"}, follow=True).content.decode()
    assert "task queue is unavailable" not in page
    assert ExportJob.objects.filter(error__startswith="OSError").count() == 2


def test_a_task_that_fails_before_it_can_record_it_still_fails_its_job(staff, monkeypatch):
    from logcenter import tasks

    def broken(job_id):
        raise LookupError("worker could not load the job")

    monkeypatch.setattr(tasks.export_run, "run", broken)
    job = exports.export_create(user=staff, kind_slug="audit", fmt="csv", params={})
    assert (job.status, job.error) == ("failed", "LookupError: worker could not load the job")
