"""Retention: purge each kind's expired rows in bounded batches, never holding long locks.

Two windows apply to a row: the platform's policy for its kind (RetentionPolicy), and,
for an organization's row, its plan's (accounts.Plan.retention_days), which may only be
shorter: a row past the platform's window goes whatever the plan says. The nightly job
purges the first for every row, then each organization's rows past its plan's window.
A legal hold on the kind, or on the organization, stops both for the rows it covers.

Deleting is the kind's engine's (logcenter.engines): on PostgreSQL every delete goes
through `logcenter_purge` (migration 0019) or `logcenter_purge_organization` (0028),
functions of the owner role that check the policy, the plan and the legal holds
themselves (the app role has no DELETE on log tables; they refuse rows that are not
expired or are held: NotExpired), and whole months go as partition drops (never one
holding a held organization's rows). Every purge leaves a system event with its counts.
"""

import time
from dataclasses import dataclass, field
from datetime import timedelta

from celery import shared_task
from django.conf import settings
from django.utils import timezone
from django.utils.translation import gettext

from logcenter.analytics import rollups
from logcenter.core.admin_audit import acting_as
from logcenter.core.selectors import purgeable_rows
from logcenter.core.audit_actions import AuditAction
from logcenter.integrity.removals import purge_batch
from logcenter.models import DeletionJob, RetentionPolicy, SystemEvent, UsageLedger, UsageRecord
from logcenter.core.registry import registry
from logcenter.core.services import audit_event_record, system_event_record
from logcenter.engines import engine_for
from logcenter.engines.base import NotExpired


class LegalHold(Exception):
    pass


@dataclass
class PurgeReport:
    deleted: dict = field(default_factory=dict)  # kind -> rows
    held: list = field(default_factory=list)  # kinds skipped for a legal hold
    # organization public id -> {kind: rows} past its plan's window
    organizations: dict = field(default_factory=dict)
    organizations_held: list = field(default_factory=list)  # skipped for a legal hold
    partitions_dropped: list = field(default_factory=list)
    deferred: list = field(default_factory=list)  # kinds left for the next run
    finished: bool = True  # False when the time budget ran out first, or a kind was deferred


def purgeable_tables():
    """[(table, kind slug, key column)]: what retention deletes from, derived from the
    registry (and the usage ledger, which goes with the usage rows). The owner writes this
    into the database after each migrate (logcenter.engines.postgres.db_roles.after_migrate)."""
    tables = [(kind.model._meta.db_table, kind.slug, kind.model._meta.pk.column)
              for kind in registry]
    tables.append((UsageLedger._meta.db_table, registry.for_model(UsageRecord).slug,
                   UsageLedger._meta.pk.column))
    return tables


def _delete_batch(model, before, batch_size, organization_id=None):
    """Delete up to batch_size rows older than `before`; returns how many (the kind's
    engine: on PostgreSQL through the owner's function, which may refuse: NotExpired)."""
    return engine_for(model).purge_batch(model, before, batch_size, organization_id)


def purge_kind(kind, before, *, batch_size, deadline, progress=None, reason="retention",
               organization_id=None, resum=True):
    """Delete a kind's rows older than `before` until done or past `deadline`: every
    organization's but those on legal hold, or only `organization_id`'s (its plan's
    purge, which leaves the usage ledger to the platform's). `resum`: sum the usage
    rollup hours again here (False: the caller does, once for several purges)."""
    RetentionPolicy.for_kind(kind.slug)  # stored when first read: the database checks it
    rows = purgeable_rows(kind.model, organization_id)
    # Where an organization's removed rows begin: its rollup hours are summed again from there.
    oldest = None if organization_id is None else first_before(rows, before)
    deleted, done = 0, False
    try:
        while time.monotonic() < deadline:
            # Each batch also writes the signed record of exactly which rows it removed, in
            # its transaction (logcenter.integrity): verification stays green after a purge.
            count = purge_batch(kind.model, before, batch_size, reason=reason, rows=rows,
                                delete=lambda bound, size: _delete_batch(
                                    kind.model, bound, size, organization_id))
            deleted += count
            if progress:
                progress(deleted)
            if count < batch_size:
                done = True
                break
        if kind.model is UsageRecord and done and organization_id is None:
            # The ledger's ids go with the rows they cover (those before `before`, here or in
            # the whole months dropped before): the ids of rows still kept stay duplicates.
            while True:
                if time.monotonic() >= deadline:
                    done = False
                    break
                if _delete_batch(UsageLedger, before, batch_size) < batch_size:
                    break
    finally:  # a batch refused midway (NotExpired) still leaves the earlier ones summed out
        if kind.model is UsageRecord and resum and (organization_id is None
                                                    or oldest is not None):
            # The usage figures (rollups) must drop what the rows dropped (here or in whole
            # months before), or stats and the exact row count would still count them: the
            # hours up to `before` (an organization's: from its oldest row removed, about a
            # day's hours each night) are summed again from the rows that remain.
            rollups.rollup_rebuild(None if organization_id is None else oldest, before)
    return deleted, done


def retention_purge(now=None, *, batch_size=None, budget_seconds=None):
    """The nightly job: every kind's rows past its policy, then each organization's past
    its plan's window (organizations_purge); nothing on legal hold."""
    now = now or timezone.now()
    cfg = settings.LOGCENTER
    batch_size = batch_size or cfg["PURGE_BATCH_SIZE"]
    deadline = time.monotonic() + (budget_seconds or cfg["PURGE_BUDGET_SECONDS"])
    report = PurgeReport()
    out_of_time = False
    for kind in registry:
        policy = RetentionPolicy.for_kind(kind.slug)
        if policy.legal_hold:
            report.held.append(kind.slug)
            continue
        cutoff = retention_cutoff(kind.slug, now)
        deleted = 0
        # Whole stored units (PostgreSQL's monthly partitions) past the policy go at once;
        # the rest row by row below.
        dropped = engine_for(kind).drop_expired(kind, cutoff)
        if dropped is None:
            # An index rebuild holds the layout: rather than delete whole months row by
            # row, leave the kind to the next run.
            report.deferred.append(kind.slug)
            report.finished = False
            continue
        report.partitions_dropped.extend(dropped)
        deleted += sum(dropped.values())
        rows, done = purge_kind(kind, cutoff, batch_size=batch_size, deadline=deadline)
        report.deleted[kind.slug] = deleted + rows
        report.finished = report.finished and done
        out_of_time = out_of_time or not done
    out_of_time = not organizations_purge(now, batch_size=batch_size, deadline=deadline,
                                          report=report) or out_of_time
    report.finished = report.finished and not out_of_time
    organization_rows = sum(sum(kinds.values()) for kinds in report.organizations.values())
    system_event_record(
        source="retention", event="retention.purged",
        level=SystemEvent.Level.INFO if report.finished else SystemEvent.Level.WARNING,
        message=(f"Purged {sum(report.deleted.values())} expired rows"
                 + (f", and {organization_rows} rows of {len(report.organizations)} "
                    "organizations past their plans' windows" if organization_rows else "")
                 + (f"; {', '.join(report.deferred)} deferred: partitions are being reindexed"
                    if report.deferred else "")
                 + ("; time budget reached, the rest goes next run" if out_of_time else "")
                 + (f"; legal hold on {', '.join(report.held + report.organizations_held)}"
                    if report.held or report.organizations_held else "")),
        details={"deleted": report.deleted, "legal_hold": report.held, "deferred": report.deferred,
                 "organizations": report.organizations,
                 "organizations_legal_hold": report.organizations_held,
                 "finished": report.finished,
                 "partitions_dropped": report.partitions_dropped},
    )
    return report


def organizations_purge(now, *, batch_size, deadline, report):
    """Each organization's rows past its plan's window, kind by kind, where the plan keeps
    them less long than the platform's policy (which purged the rest); none of an
    organization or a kind on legal hold. False when `deadline` came first."""
    from accounts.models import Organization

    held_kinds = {kind.slug for kind in registry
                  if RetentionPolicy.for_kind(kind.slug).legal_hold}
    platform_cutoffs = {kind.slug: retention_cutoff(kind.slug, now) for kind in registry}
    # Usage hours whose rows an organization's purge removed, summed again at the end: the
    # organizations of one plan share theirs (about a day each night), one rebuild for all.
    stretches = []
    try:
        for organization in Organization.objects.select_related("plan").order_by("pk"):
            if organization.legal_hold:
                report.organizations_held.append(organization.public_id)
                continue
            for kind in registry:
                cutoff = plan_cutoff(organization.plan, kind.slug, now)
                if (kind.slug in held_kinds or cutoff is None
                        or cutoff <= platform_cutoffs[kind.slug]):
                    continue
                oldest = first_before(purgeable_rows(kind.model, organization.public_id),
                                      cutoff)
                if oldest is None:
                    continue  # nothing of it expired (every night but the first, mostly)
                if time.monotonic() >= deadline:
                    return False
                if kind.model is UsageRecord:
                    stretches.append((oldest, cutoff))
                try:
                    rows, done = purge_kind(
                        kind, cutoff, batch_size=batch_size, deadline=deadline, resum=False,
                        organization_id=organization.public_id,
                        reason=f"retention: {organization.public_id}, "
                               f"plan {organization.plan.slug}")
                except NotExpired:  # a plan or a hold changed meanwhile: the next run follows
                    continue
                if rows:
                    report.organizations.setdefault(organization.public_id, {})[kind.slug] = rows
                if not done:
                    return False
        return True
    finally:
        for start, end in _merged(stretches):
            rollups.rollup_rebuild(start, end)


def first_before(rows, before):
    """The time of the oldest of `rows` before `before`, or None."""
    return (rows.filter(occurred_at__lt=before).order_by("occurred_at")
            .values_list("occurred_at", flat=True).first())


def _merged(stretches):
    """[(start, end)] covering the same times, overlapping stretches joined."""
    merged = []
    for start, end in sorted(stretches):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


def policy_update(*, actor, kind_slug, days, legal_hold):
    """An administrator changes a policy (audited with before/after values)."""
    policy = RetentionPolicy.for_kind(kind_slug)
    changes = {}
    if policy.days != days:
        changes["days"] = {"before": policy.days, "after": days}
    if policy.legal_hold != legal_hold:
        changes["legal_hold"] = {"before": policy.legal_hold, "after": legal_hold}
    if not changes:
        return policy
    policy.days, policy.legal_hold = days, legal_hold
    policy.updated_by = actor.get_username()
    with acting_as(actor):
        policy.save()  # audited (retention.updated) by logcenter.core.admin_audit
    return policy


def retention_cutoff(kind_slug, now=None):
    """Rows before this are expired: the policy's days, and never fewer than
    MIN_RETENTION_DAYS (the database's purge function applies the same rule)."""
    return _cutoff(RetentionPolicy.for_kind(kind_slug).days, now)


def plan_cutoff(plan, kind_slug, now=None):
    """An organization's rows of the kind before this are past its plan's window (never
    fewer than MIN_RETENTION_DAYS, as logcenter_purge_organization says); None: the plan
    keeps them without limit."""
    days = plan.retention_for(kind_slug)
    return None if days is None else _cutoff(days, now)


def _cutoff(days, now):
    days = max(days, settings.LOGCENTER["MIN_RETENTION_DAYS"])
    return (now or timezone.now()) - timedelta(days=days)


def deletion_check(kind_slug, before):
    """LegalHold or NotExpired, saying why, when rows of `kind_slug` before `before` may not
    be deleted now; else None."""
    if RetentionPolicy.for_kind(kind_slug).legal_hold:
        raise LegalHold(gettext("The {kind} logs are on legal hold; nothing may be "
                                "deleted.").format(kind=registry[kind_slug].label))
    cutoff = retention_cutoff(kind_slug)
    if before > cutoff:
        raise NotExpired(gettext(
            "The {kind} logs are kept {days} days: only rows before {cutoff} UTC may be "
            "deleted. Shorten the retention policy first to delete more.").format(
                kind=registry[kind_slug].label, days=(timezone.now() - cutoff).days,
                cutoff=f"{cutoff:%Y-%m-%d %H:%M}"))


def deletion_request(*, actor, kind_slug, before):
    """Queue "delete logs older than `before`" now, rather than at the nightly purge.
    Refused (deletion_check) while the kind is on legal hold, and for rows its retention
    still keeps (to delete those, shorten the policy first: that change is audited)."""
    deletion_check(kind_slug, before)
    kind = registry[kind_slug]
    job = DeletionJob.objects.create(
        kind=kind_slug, before=before, requested_by=actor.get_username(),
        estimated_total=purgeable_rows(kind.model).filter(occurred_at__lt=before).count())
    audit_event_record(action=AuditAction.LOGS_HISTORY_DELETED, actor=actor,
                       category="config",
                       resource_type="deletion_job", resource_id=str(job.job_id),
                       resource_name=f"{kind_slug} before {before.isoformat()}",
                       details={"kind": kind_slug, "before": before.isoformat(),
                                "estimated_rows": job.estimated_total})
    deletion_run_task.delay(job.pk)
    return job


def deletion_run(job_id):
    job = DeletionJob.objects.get(pk=job_id)
    if job.status not in (DeletionJob.Status.QUEUED, DeletionJob.Status.RUNNING):
        return
    if RetentionPolicy.for_kind(job.kind).legal_hold:
        DeletionJob.objects.filter(pk=job.pk).update(
            status=DeletionJob.Status.FAILED, finished_at=timezone.now(),
            error="A legal hold was placed before the deletion ran.")
        return
    DeletionJob.objects.filter(pk=job.pk).update(status=DeletionJob.Status.RUNNING)

    def progress(rows):
        DeletionJob.objects.filter(pk=job.pk).update(rows_deleted=rows)

    try:
        deleted, _ = purge_kind(registry[job.kind], job.before,
                                batch_size=settings.LOGCENTER["PURGE_BATCH_SIZE"],
                                deadline=float("inf"), progress=progress,
                                reason=f"deletion job {job.job_id} ({job.requested_by})")
    except NotExpired as refused:  # the policy was lengthened after the request
        DeletionJob.objects.filter(pk=job.pk).update(
            status=DeletionJob.Status.FAILED, finished_at=timezone.now(), error=str(refused))
        return
    DeletionJob.objects.filter(pk=job.pk).update(
        status=DeletionJob.Status.COMPLETED, rows_deleted=deleted, finished_at=timezone.now())
    system_event_record(source="retention", event="history.deleted",
                        resource_type="deletion_job", resource_id=str(job.job_id),
                        message=f"Deleted {deleted} {job.kind} rows older than "
                                f"{job.before.isoformat()} (requested by {job.requested_by})",
                        details={"kind": job.kind, "rows": deleted})


# --- tasks --------------------------------------------------------------------------

@shared_task(name="logcenter.retention_purge")
def retention_purge_task():
    report = retention_purge()
    return {"deleted": report.deleted, "held": report.held, "deferred": report.deferred,
            "organizations": report.organizations,
            "organizations_held": report.organizations_held, "finished": report.finished}


@shared_task(name="logcenter.deletion_run", acks_late=True)
def deletion_run_task(job_id):
    deletion_run(job_id)
