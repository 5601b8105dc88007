"""Celery tasks (thin wrappers over services) and the task-failure reporting.

Every task failure or retry, in any app, becomes a system event: task name, exception
type and a scrubbed message, never the task's arguments (they may hold secrets).
"""

from celery import shared_task
from celery.signals import task_failure, task_retry

from logcenter.models import SystemEvent
from logcenter.core.services import scrub_text, system_event_record


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


@shared_task(name="logcenter.export_run", acks_late=True, reject_on_worker_lost=True)
def export_run(job_id):
    from logcenter.exports.jobs import export_run as run

    run(job_id)


@shared_task(name="logcenter.exports_housekeeping")
def exports_housekeeping():
    """Delete expired files; fail jobs whose worker died mid-export."""
    from logcenter.exports.jobs import exports_expire, exports_reap_stale

    return {"expired": exports_expire(), "stale": exports_reap_stale()}


@shared_task(name="logcenter.retention_purge")
def retention_purge():
    from logcenter.retention.purge import retention_purge as purge

    report = purge()
    return {"deleted": report.deleted, "held": report.held, "deferred": report.deferred,
            "finished": report.finished}


@shared_task(name="logcenter.deletion_run", acks_late=True)
def deletion_run(job_id):
    from logcenter.retention.purge import deletion_run as run

    run(job_id)


@shared_task(name="logcenter.usage_partitions_ensure")
def usage_partitions_ensure(months_ahead=3):
    """Create the usage table's monthly partitions ahead of time (PostgreSQL)."""
    from datetime import timedelta

    from django.utils import timezone

    from logcenter.engines.postgres.partitions import ensure_usage_partitions

    now = timezone.now()
    return ensure_usage_partitions(now, now + timedelta(days=31 * months_ahead))


@shared_task(name="logcenter.planner_stats_refresh", ignore_result=True)
def planner_stats_refresh():
    """ANALYZE the log tables that changed enough since their last ANALYZE (the engine's
    planner upkeep; no VACUUM: autovacuum does that)."""
    from logcenter.engines import engine_for

    return engine_for().planner_upkeep()


@shared_task(name="logcenter.usage_rollups_fold", ignore_result=True)
def usage_rollups_fold():
    """Fold freshly ingested usage sums into the hourly rollups (every few seconds)."""
    from logcenter.analytics.rollups import rollup_fold

    return rollup_fold()  # 0 where the engine keeps no inbox


@shared_task(name="logcenter.integrity_seal", ignore_result=True)
def integrity_seal():
    """Seal every kind's new rows into signed, chained digest blocks (every minute)."""
    from logcenter.integrity import seal

    run = seal()
    return {"busy": run.busy, "blocks": run.blocks, "rows": run.rows}


@shared_task(name="logcenter.integrity_verify", ignore_result=True)
def integrity_verify(kind=None, requested_by="scheduled"):
    """Verify one kind (or all) and keep the result for the console (daily, or on demand)."""
    from logcenter.integrity.verification import verify_and_report

    return verify_and_report([kind] if kind else None, requested_by=requested_by)
