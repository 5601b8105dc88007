"""Task failures, run by a real Celery worker, become system events without secrets."""

import pytest

from logcenter.models import SystemEvent
from logcenter.tasks import diagnostic_fail
from tests.conftest import wait_for

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.xdist_group("celery")]


def test_a_failing_task_in_a_real_worker_becomes_a_system_event(celery_worker):
    result = diagnostic_fail.apply_async(
        args=["upstream said no; Authorization: Bearer lc_supersecretvalue1234567890"],
        queue=celery_worker,
    )
    event = wait_for(lambda: SystemEvent.objects.filter(resource_id=result.id).first())
    assert event.source == "async_tasks" and event.event == "task.failed"
    assert event.level == "error"
    assert event.details["task"] == "logcenter.diagnostic_fail"
    assert event.details["exception_type"] == "RuntimeError"
    assert "upstream said no" in event.message
    assert "lc_supersecretvalue" not in event.message + str(event.details)
