"""The app's Celery tasks, and the task-failure reporting.

Each room's tasks live beside the service they wrap (the export job, the rollup fold,
retention, sealing and verifying); this module imports them, so that Celery registers them
under their names (the beat schedule and queued messages use those), and holds the store's
upkeep tasks. Every task failure or retry, in any app, becomes a system event: task name,
exception type and a scrubbed message, never the task's arguments (they may hold secrets).
"""

from datetime import timedelta

from celery import shared_task
from celery.signals import task_failure, task_retry
from django.utils import timezone

from logcenter.analytics.known_values import known_values_refresh_task  # noqa: F401
from logcenter.analytics.rollups import usage_rollups_fold  # noqa: F401
from logcenter.core.services import scrub_text, system_event_record
from logcenter.engines import engine_for
from logcenter.exports.jobs import export_run_task as export_run  # noqa: F401
from logcenter.exports.jobs import exports_housekeeping  # noqa: F401
from logcenter.integrity.sealing import integrity_seal  # noqa: F401
from logcenter.integrity.verification import integrity_verify  # noqa: F401
from logcenter.models import SystemEvent, UsageRecord
from logcenter.retention.purge import deletion_run_task as deletion_run  # noqa: F401
from logcenter.retention.purge import retention_purge_task as retention_purge  # noqa: F401
from logcenter.streams.delivery import stream_pump_task, streams_dispatch_task  # noqa: F401


@task_failure.connect
def record_task_failure(sender=None, task_id=None, exception=None, **kwargs):
    task_name = getattr(sender, "name", str(sender))
    system_event_record(
        source="async_tasks",
        event="task.failed",
        level=SystemEvent.Level.ERROR,
        message=f"{task_name} failed: {type(exception).__name__}: {scrub_text(str(exception))}",
        resource_type="task",
        resource_id=task_id or "",
        details={"task": task_name, "exception_type": type(exception).__name__,
                 "exception_message": scrub_text(str(exception))[:1000]},
    )


@task_retry.connect
def record_task_retry(sender=None, request=None, reason=None, **kwargs):
    task_name = getattr(sender, "name", str(sender))
    system_event_record(
        source="async_tasks",
        event="task.retry",
        level=SystemEvent.Level.WARNING,
        message=f"{task_name} will retry: {scrub_text(str(reason))}",
        resource_type="task",
        resource_id=getattr(request, "id", "") or "",
        details={"task": task_name, "retries": getattr(request, "retries", None),
                 "reason": scrub_text(str(reason))[:1000]},
    )


@shared_task(name="logcenter.diagnostic_fail")
def diagnostic_fail(message="diagnostic failure"):
    """Fails on purpose: `celery -A config call logcenter.diagnostic_fail` checks that task
    failures reach the system events tab."""
    raise RuntimeError(message)


@shared_task(name="logcenter.usage_partitions_ensure")
def usage_partitions_ensure(months_ahead=3):
    """Create the coming months' storage ahead of time (the usage table's partitions)."""
    now = timezone.now()
    return engine_for(UsageRecord).prepare_ahead(now, now + timedelta(days=31 * months_ahead))


@shared_task(name="logcenter.planner_stats_refresh", ignore_result=True)
def planner_stats_refresh():
    """ANALYZE the log tables that changed enough since their last ANALYZE (the engine's
    planner upkeep; no VACUUM: autovacuum does that)."""
    return engine_for().planner_upkeep()
