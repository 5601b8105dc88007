"""Delivery by real Celery workers: a worker killed in the middle of a batch loses nothing,
and its lock dies with it."""

import os
import signal
import threading
import time

import pytest

from logcenter.streams import delivery
from logcenter.streams.models import Destination
from tests.conftest import wait_for
from tests.factories import AuditEventFactory
from tests.logcenter.streams.receivers import WebhookReceiver
from tests.logcenter.test_export_worker import _start_worker

SECRET = "a-webhook-secret-of-32-characters"
pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.xdist_group("celery"),
              pytest.mark.postgres]


class StallingWebhook(WebhookReceiver):
    """Holds its first request until released: the batch arrives, the answer does not."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.arrived, self.release = threading.Event(), threading.Event()

    def accept(self, request):
        if not self.arrived.is_set():
            self.arrived.set()
            self.release.wait(30)
        return super().accept(request)


def test_a_worker_killed_mid_batch_loses_nothing(make_destination, httpserver, tmp_path,
                                                 monkeypatch):
    from config.celery import app

    hook = StallingWebhook(httpserver, SECRET)
    destination = make_destination("webhook", hook.url, {"secret": SECRET}, kinds=["audit"])
    rows = AuditEventFactory.create_batch(5)
    stored = [str(r.event_id) for r in rows]
    queue = f"streams-{os.getpid()}-{time.monotonic_ns()}"
    monkeypatch.setattr(app.conf, "CELERY_TASK_ALWAYS_EAGER", False)
    worker = _start_worker(queue, tmp_path)
    try:
        delivery.stream_pump_task.apply_async((destination.pk,), queue=queue)
        assert hook.arrived.wait(60), "the worker never sent the batch"
        assert delivery.pump(destination.pk).busy  # the worker holds the destination
        worker.send_signal(signal.SIGKILL)
        worker.wait(timeout=10)
    finally:
        if worker.poll() is None:
            worker.kill()
        hook.release.set()
    destination.refresh_from_db()
    assert destination.cursor["audit"] < rows[0].pk  # never acknowledged: not advanced
    # The killed worker's database session ended, and its lock with it.
    result = wait_for(lambda: (lambda r: r if not r.busy else None)(
        delivery.pump(destination.pk, force=True)), timeout=20)
    assert result.error == "" and result.delivered >= len(rows)
    received = [e for e in hook.event_ids if e in stored]
    # The first copy arrived with no answer, the second once again: each recognisable by
    # its event_id, both in the stored order.
    assert received == stored + stored
    assert Destination.objects.get(pk=destination.pk).cursor["audit"] >= rows[-1].pk
