"""Exports through a real Celery worker on Redis, a worker killed mid-export, Redis down."""

import os
import signal
import subprocess
import sys
import time

import pytest
from django.db import connection

from logcenter.exports import jobs as exports
from logcenter.models import ExportJob, UsageRecord
from tests.conftest import wait_for
from tests.factories import FACTORIES

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.xdist_group("celery")]


@pytest.fixture
def shared_media(settings, tmp_path):
    # The worker process writes files; it must see the same MEDIA_ROOT as the test.
    settings.MEDIA_ROOT = tmp_path
    os.environ["MEDIA_ROOT"] = str(tmp_path)
    yield tmp_path
    os.environ.pop("MEDIA_ROOT", None)


def test_export_runs_in_a_real_worker(celery_worker, staff, settings):
    settings.MEDIA_ROOT = settings.MEDIA_ROOT  # the session worker keeps its own MEDIA_ROOT
    FACTORIES["usage"].create_batch(5, platform_model="gpt-4o")
    job = exports.export_create(user=staff, kind_slug="usage", fmt="csv",
                                params={"platform_model": "gpt-4o"})
    done = wait_for(lambda: ExportJob.objects.filter(
        pk=job.pk, status__in=["completed", "failed"]).first())
    assert done.status == "completed", done.error
    assert done.rows_written == 5 and done.estimated_total == 5


def _bulk_usage(n):
    from django.utils import timezone

    now = timezone.now()
    rows = [UsageRecord(platform_model="bulk", occurred_at=now) for _ in range(n)]
    UsageRecord.objects.bulk_create(rows, batch_size=5000)


def _start_worker(queue, media):
    db = connection.settings_dict
    env = {**os.environ, "MEDIA_ROOT": str(media),
           "DATABASE_URL": f"postgres://{db['USER'] or 'postgres'}@{db['HOST']}:{db['PORT']}/"
                           f"{db['NAME']}"}
    return subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "config", "worker", "--pool=solo", "-Q", queue,
         "--loglevel=warning", "--without-heartbeat", "--without-gossip", "--without-mingle",
         "-n", f"{queue}@%h"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def test_worker_killed_mid_export_never_completes_and_can_be_retried(
        on_postgres, staff, shared_media, monkeypatch):
    from config.celery import app

    _bulk_usage(40_000)
    queue = f"kill-{os.getpid()}-{time.monotonic_ns()}"
    monkeypatch.setattr(app.conf, "CELERY_TASK_ALWAYS_EAGER", False)
    previous_queue = app.conf.task_default_queue
    app.conf.CELERY_TASK_DEFAULT_QUEUE = queue
    worker = _start_worker(queue, shared_media)
    try:
        job = exports.export_create(user=staff, kind_slug="usage", fmt="json",
                                    params={"platform_model": "bulk"})
        wait_for(lambda: ExportJob.objects.filter(pk=job.pk, rows_written__gt=0).exists(),
                 timeout=60, interval=0.02)
        worker.send_signal(signal.SIGKILL)
        worker.wait(timeout=10)
    finally:
        app.conf.CELERY_TASK_DEFAULT_QUEUE = previous_queue
        if worker.poll() is None:
            worker.kill()
    job.refresh_from_db()
    assert job.status == "running" and 0 < job.rows_written < 40_000
    assert not (shared_media / "exports" / f"{job.export_id}.json").exists()

    # The housekeeping task fails it clearly once its heartbeat is stale.
    from datetime import timedelta

    from django.utils import timezone

    assert exports.exports_reap_stale(now=timezone.now() + timedelta(minutes=10)) == 1
    job.refresh_from_db()
    assert job.status == "failed" and "worker stopped" in job.error
    assert not list((shared_media / "exports").glob("*.part"))

    # Retried from scratch, it completes with every row.
    monkeypatch.setattr(app.conf, "CELERY_TASK_ALWAYS_EAGER", True)
    exports.export_retry(job)
    job.refresh_from_db()
    assert job.status == "completed" and job.rows_written == 40_000


def test_redis_down_marks_the_job_failed_with_a_clear_message(on_postgres, staff, tmp_path):
    """Run in a process whose broker is a closed port: the export fails clearly, and
    the pages and ingestion keep working there."""
    db = connection.settings_dict
    script = f"""
import json
from django.test import Client
from accounts.models import User, ApiKey
from logcenter.exports import jobs as exports
from logcenter.models import ExportJob
user = User.objects.get(pk={staff.pk})
try:
    exports.export_create(user=user, kind_slug="usage", fmt="csv", params={{}})
    outcome = "queued"
except exports.QueueUnavailable as exc:
    outcome = exc.job.status + ": " + exc.job.error
client = Client()
client.force_login(user)
page = client.get("/logs/usage/").status_code
button = client.post("/logs/usage/export/", {{"format": "csv"}}, follow=True)
_, secret = ApiKey.generate(owner=user, name="in", scopes=["ingest"],
                        kinds=["audit", "auth", "system", "usage"])
ingest = client.post("/api/v1/ingest/", data='[{{"kind": "system", "source": "x", "event": "y"}}]',
                     content_type="application/json", HTTP_AUTHORIZATION="Bearer " + secret)
print(json.dumps({{"outcome": outcome, "page": page, "ingest": ingest.status_code,
                  "message": "task queue is unavailable" in button.content.decode()}}))
"""
    env = {**os.environ, "REDIS_URL": "redis://127.0.0.1:6390/0", "MEDIA_ROOT": str(tmp_path),
           "DATABASE_URL": f"postgres://{db['USER'] or 'postgres'}@{db['HOST']}:{db['PORT']}/"
                           f"{db['NAME']}"}
    started = time.monotonic()
    out = subprocess.run([sys.executable, "manage.py", "shell", "-c", script], env=env,
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-3000:]
    import json

    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["outcome"].startswith("failed: The task queue is unavailable")
    assert result == {**result, "page": 200, "ingest": 200, "message": True}
    assert time.monotonic() - started < 60


def test_retention_purge_runs_in_a_real_worker(celery_worker):
    from datetime import timedelta

    from django.utils import timezone

    from logcenter.models import SystemEvent
    from logcenter.tasks import retention_purge

    FACTORIES["system"].create_batch(3, occurred_at=timezone.now() - timedelta(days=40))
    keep = FACTORIES["system"]()
    retention_purge.delay()
    event = wait_for(lambda: SystemEvent.objects.filter(event="retention.purged").first())
    assert event.details["deleted"]["system"] == 3
    assert list(SystemEvent.objects.filter(source=keep.source, pk=keep.pk)) == [keep]
