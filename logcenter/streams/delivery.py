"""Delivery: each destination's rows, in order, at least once, from its cursor.

The cursor is per kind: the id of the last row delivered (or passed over by the
destination's filters). A pump, under the destination's lock (a PostgreSQL advisory lock,
so workers on any machine share destinations and never send one destination's batches
at once; a killed worker's session ends and frees it):

1. reads the **safe horizon** of each kind, as sealing does (logcenter.integrity.sealing):
   ids are drawn at insert but seen at commit, so a row below the horizon can no longer
   appear behind the cursor and be skipped for good;
2. reads the next batch after the cursor: each kind's rows the destination carries
   (its organization, its event types, as its owner may see them), merged by ingestion
   time, `batch_size` at most;
3. sends it, and only once the receiver acknowledged it advances the cursor (one UPDATE
   that also checks no replay moved the cursor meanwhile).

A failed send leaves the cursor where it was: the batch is sent again after a backoff
(exponential with jitter, or the receiver's Retry-After), so a receiver may see an event
twice, never miss one, and recognises repeats by `event_id`. Failing for longer than the
destination's pause_after_minutes pauses it, with a system event saying why; resuming
goes on from the cursor, so nothing within retention is lost. Replay moves the cursor back
to a time or to a given position.
"""

import heapq
import random
import time
from dataclasses import dataclass, field
from datetime import timedelta

from celery import shared_task
from django.conf import settings
from django.db.models import F, Max, Min, Q
from django.utils import timezone

from logcenter.core.access import access_for, membership_of, organization_scope
from logcenter.core.events import event_type_filter
from logcenter.core.registry import registry
from logcenter.engines import engine_for
from logcenter.streams import documents, secrets
from logcenter.streams.models import Destination
from logcenter.streams.protocols import DeliveryFailed, protocol_for

STREAM_LOCK_BASE = 0x4C43_5354 << 32  # 'LCST' + the destination's pk


def _cfg(name):
    return settings.LOGCENTER_STREAMS[name]


# --- what a destination carries ------------------------------------------------------

class Refused(Exception):
    """The destination may not stream now (its owner, its plan): it pauses, saying why."""


def refusal(destination) -> str:
    """Why the destination may not stream now, or "": its owner must be an active user who
    may read each of its kinds, and an organization's destination needs a plan that
    includes streaming (platform destinations always may)."""
    owner = destination.created_by
    if owner is None or not owner.is_active:
        return ("Its owner's account was removed or disabled: an administrator can take it "
                "over by saving it.")
    membership = membership_of(owner)  # read once: access_for below reuses it
    if membership is not None:
        if destination.organization_id != membership.organization_id:
            return "Its owner belongs to another organization."
        plan = membership.organization.plan
        if not plan.streaming_allowed:
            return f"The {plan.name} plan does not include log streaming."
    for slug in destination.kinds:
        kind = registry.get(slug)
        if kind is None:
            return f"The {slug} kind is no longer registered."
        if not access_for(owner, kind).can_view:
            return f"Its owner may no longer read the {kind.label.lower()} logs."
    return ""


def destination_kinds(destination):
    return [registry[slug] for slug in destination.kinds if registry.get(slug) is not None]


def carried_rows(destination, kind):
    """The kind's rows the destination carries (any position): its owner's view
    (Access.scope), its organization's rows within the plan's window, its event types.
    None when its event types match none of the kind's rows."""
    rows = kind.model.objects.all()
    if destination.created_by is not None:  # gone: the pump pauses it (refusal) first
        rows = access_for(destination.created_by, kind).scope(rows)
    if destination.organization_id is not None:
        rows = organization_scope(rows, destination.organization, kind)
    if destination.event_patterns:
        matched = [q for q in (event_type_filter(kind, pattern)
                               for pattern in destination.event_patterns) if q is not None]
        if not matched:
            return None
        if any(not q for q in matched):  # a pattern matching every row (`auth.*` on auth)
            return rows
        condition = matched[0]
        for more in matched[1:]:
            condition |= more
        rows = rows.filter(condition)
    return rows


def field_rules(destination, kind):
    """(masked, hidden) fields as sent: sensitive fields masked unless the destination
    sends them and its owner may see them; cost left out unless the owner may see it."""
    access = access_for(destination.created_by, kind)
    masked = (access.masked_fields if destination.include_sensitive
              else frozenset(kind.sensitive_fields))
    return masked, access.hidden_fields


# --- batches -------------------------------------------------------------------------

@dataclass
class Batch:
    documents: list
    cursor: dict  # the destination's cursor once this batch is delivered
    full: bool  # a kind had more rows than fit: read on at once


def head_cursor(kinds) -> dict:
    """Every kind's newest id: a cursor that sends only what comes next."""
    return {kind.slug: kind.model.objects.aggregate(m=Max("id"))["m"] or 0 for kind in kinds}


# A batch reads ids in spans: first READ_SPAN batches' worth, growing READ_GROWTH times
# while the destination's filters keep few rows, so each read is a bounded range of the
# primary key whatever the planner believes of it (a range it thinks holds 46 rows and
# that holds 100,000 cost 88 ms a batch; a span of 2,000, 2 ms).
READ_SPAN = 4
READ_GROWTH = 4


def _read_ahead(rows, reader, after, top, size):
    """(up to `size` value tuples of `rows` with ids in (after, top], in id order, as
    `reader` reads them; the id up to which every carried row is in hand, or None when
    `size` were found: the cursor then follows the rows)."""
    values, reached, span = [], after, size * READ_SPAN
    while reached < top:
        end = min(top, reached + span)
        values += reader.read(rows, reached, end, size - len(values))
        if len(values) == size:
            return values, None
        reached, span = end, span * READ_GROWTH
    return values, reached


def next_batch(destination, horizons) -> Batch:
    """The next rows after the cursor, up to each kind's horizon (None: the newest id,
    read first: a database with one writer commits in id order)."""
    size = destination.batch_size
    cursor = dict(destination.cursor)
    per_kind = []
    for kind in destination_kinds(destination):
        after = int(cursor.get(kind.slug, 0))
        top = horizons.get(kind.slug)
        if top is None:
            top = kind.model.objects.aggregate(m=Max("id"))["m"] or 0
        rows = carried_rows(destination, kind)
        if rows is None or top <= after:
            cursor[kind.slug] = max(after, top)
            continue
        builder = documents.document_reader(kind, *field_rules(destination, kind))
        values, reached = _read_ahead(rows, builder, after, top, size)
        if reached is not None:  # every carried row up to it is in hand
            cursor[kind.slug] = reached
        per_kind.append((kind, builder, values, reached is None or reached < top))
    # Merged by ingestion time; each kind's rows keep their id order (heapq.merge takes
    # each list's head), so the cursor can stop at any point of the merge.
    merged = heapq.merge(*([(kind.slug, builder, row) for row in values]
                           for kind, builder, values, _ in per_kind),
                         key=lambda item: (item[2][item[1].ingested_at], item[0]))
    taken = [item for _, item in zip(range(size), merged)]
    docs = [builder.build(row) for _, builder, row in taken]
    last_taken = {slug: row[0] for slug, _, row in taken}  # the last wins: id order
    full = False
    for kind, _, values, more in per_kind:
        if values and last_taken.get(kind.slug) != values[-1][0]:
            # Not every row read fit in the batch: the cursor stops at the last one sent.
            cursor[kind.slug] = last_taken.get(kind.slug,
                                               int(destination.cursor.get(kind.slug, 0)))
            full = True
        elif more:  # more ids to read (a full read, or a span short of the horizon)
            if values and len(values) == size:
                cursor[kind.slug] = values[-1][0]
            full = True
    return Batch(docs, cursor, full)


# --- the pump ------------------------------------------------------------------------

@dataclass
class PumpResult:
    delivered: int = 0
    batches: int = 0
    busy: bool = False  # another worker holds the destination
    skipped: str = ""  # why nothing was tried (disabled, paused, not due, writers open)
    error: str = ""  # the failed send's error
    paused: str = ""  # why the destination paused itself
    cursor: dict = field(default_factory=dict)


def lock_key(destination_pk):
    return STREAM_LOCK_BASE + destination_pk


def pump(destination_pk, *, budget=None, force=False) -> PumpResult:
    """Deliver the destination's batches until it is caught up or `budget` seconds
    (LOGCENTER_STREAMS["PUMP_BUDGET_SECONDS"]) have passed. `force`: even if not due."""
    budget = _cfg("PUMP_BUDGET_SECONDS") if budget is None else budget
    result = PumpResult()
    with engine_for().try_exclusive(lock_key(destination_pk)) as held:
        if not held:
            result.busy = True
            return result
        destination = (Destination.objects.select_related("organization__plan", "created_by")
                       .filter(pk=destination_pk).first())
        if destination is None or not destination.enabled or destination.is_paused:
            result.skipped = "disabled or paused"
            return result
        now = timezone.now()
        if not force and destination.next_run_at and destination.next_run_at > now:
            result.skipped = "not due"
            return result
        why = refusal(destination)
        if why:
            result.paused = pause(destination, why, by_system=True)
            return result
        try:
            sender = protocol_for(destination)
        except secrets.UnreadableCredentials as exc:
            result.paused = pause(destination, str(exc), by_system=True)
            return result
        try:
            _deliver(destination, sender, budget, result)
        finally:
            sender.close()
    return result


def _deliver(destination, sender, budget, result):
    """Send batches up to the safe horizon read once, until caught up with it or `budget`
    seconds have passed; then schedule the next pump (its interval, or at once)."""
    deadline = time.monotonic() + budget
    horizons, waiting = engine_for().seal_horizons(
        destination_kinds(destination), settings.LOGCENTER_INTEGRITY["SETTLE_SECONDS"],
        _cfg("WAIT_SECONDS"))
    if waiting:
        result.skipped = waiting
        _schedule(destination, destination.interval_seconds)
        return
    while True:
        batch = next_batch(destination, horizons)
        if batch.documents:
            try:
                sender.send(batch.documents)
            except DeliveryFailed as exc:
                result.error = str(exc)
                result.paused = _failed(destination, exc)
                return
        if not _advance(destination, batch):
            result.skipped = "the cursor was moved (replay) during the batch"
            return
        result.delivered += len(batch.documents)
        result.batches += bool(batch.documents)
        result.cursor = batch.cursor
        if not batch.full:
            _schedule(destination, destination.interval_seconds)
            return
        if time.monotonic() >= deadline:
            _schedule(destination, 0)  # more waits: due again at once
            return


def _advance(destination, batch) -> bool:
    """Move the cursor past a delivered batch, unless a replay moved it meanwhile."""
    now = timezone.now()
    changes = {"cursor": batch.cursor}
    if batch.documents:
        changes.update(delivered_count=F("delivered_count") + len(batch.documents),
                       last_success_at=now)
    if destination.consecutive_failures:
        changes.update(consecutive_failures=0, failing_since=None)
    updated = Destination.objects.filter(
        pk=destination.pk, cursor_generation=destination.cursor_generation).update(**changes)
    if updated and destination.consecutive_failures:
        stream_event(destination, "stream.recovered",
                     f"Delivering again after {destination.consecutive_failures} failed "
                     "attempts.")
        destination.consecutive_failures, destination.failing_since = 0, None
    destination.cursor = batch.cursor
    return bool(updated)


def _schedule(destination, seconds):
    Destination.objects.filter(pk=destination.pk).update(
        next_run_at=timezone.now() + timedelta(seconds=seconds))


def backoff_seconds(failures, retry_after=None):
    """The wait before the next try: the receiver's Retry-After if it gave one, else
    exponential (BACKOFF_BASE_SECONDS doubling, BACKOFF_MAX_SECONDS at most) with equal
    jitter, so destinations failing together do not retry together."""
    if retry_after is not None:
        return retry_after
    ceiling = min(_cfg("BACKOFF_MAX_SECONDS"), _cfg("BACKOFF_BASE_SECONDS") * 2 ** (failures - 1))
    return ceiling / 2 + random.uniform(0, ceiling / 2)


def _failed(destination, exc) -> str:
    """Record a failed send; pause when failing longer than pause_after_minutes. Returns
    why it paused, or ""."""
    now = timezone.now()
    failures = destination.consecutive_failures + 1
    since = destination.failing_since or now
    error = str(exc)[:2000]
    Destination.objects.filter(pk=destination.pk).update(
        consecutive_failures=failures, failing_since=since, failed_count=F("failed_count") + 1,
        last_error=error, last_error_at=now,
        next_run_at=now + timedelta(seconds=backoff_seconds(failures, exc.retry_after)))
    if now - since >= timedelta(minutes=destination.pause_after_minutes):
        minutes = round((now - since).total_seconds() / 60)
        return pause(destination, f"Failing for {minutes} minutes ({failures} attempts); "
                                  f"the last error: {error}", by_system=True)
    return ""


def pause(destination, reason, *, by_system=False) -> str:
    """Stop delivering (the cursor stays). By the system: a system event says why; by a
    person, services.destination_pause records the audit event."""
    Destination.objects.filter(pk=destination.pk).update(paused_at=timezone.now(),
                                                         paused_reason=reason)
    if by_system:
        stream_event(destination, "stream.paused", f"Destination paused: {reason}",
                     level="error")
    return reason


def stream_event(destination, event, message, level="info"):
    """A system event about the destination, its organization's when it has one."""
    from logcenter.core.services import system_event_record

    system_event_record(source="streams", event=event, level=level,
                        resource_type="destination", resource_id=destination.public_id,
                        message=message, details={"destination": destination.name},
                        organization=destination.organization)


# --- replay and health ---------------------------------------------------------------

def cursor_at(kinds, since) -> dict:
    """A cursor from which every row that occurred at or after `since` is sent again."""
    cursor = {}
    for kind in kinds:
        first = kind.model.objects.filter(occurred_at__gte=since).aggregate(m=Min("id"))["m"]
        cursor[kind.slug] = (first - 1) if first is not None else (
            kind.model.objects.aggregate(m=Max("id"))["m"] or 0)
    return cursor


@dataclass
class Health:
    behind: int  # events carried but not yet delivered (counted up to HEALTH_COUNT_CAP)
    behind_capped: bool
    oldest_undelivered_at: object  # the ingestion time of the first of them, or None

    @property
    def lag_seconds(self):
        if self.oldest_undelivered_at is None:
            return 0
        return max(0, (timezone.now() - self.oldest_undelivered_at).total_seconds())


def health(destination, cap=None) -> Health:
    """What is behind. `cap`: count undelivered events up to this many (a list of many
    destinations asks for less than the settings' HEALTH_COUNT_CAP)."""
    cap = cap or _cfg("HEALTH_COUNT_CAP")
    behind, capped, oldest = 0, False, None
    for kind in destination_kinds(destination):
        rows = carried_rows(destination, kind)
        if rows is None:
            continue
        rows = rows.filter(id__gt=int(destination.cursor.get(kind.slug, 0)))
        count, over = engine_for(kind).count_capped(rows, cap - behind)
        behind += count
        capped = capped or over
        first = rows.order_by("id").values_list("ingested_at", flat=True).first()
        if first is not None and (oldest is None or first < oldest):
            oldest = first
        if capped:
            break
    return Health(behind, capped, oldest)


# --- tasks ---------------------------------------------------------------------------

def due_destinations():
    now = timezone.now()
    return (Destination.objects.filter(enabled=True, paused_at__isnull=True)
            .filter(Q(next_run_at__isnull=True) | Q(next_run_at__lte=now))
            .values_list("pk", flat=True))


@shared_task(name="logcenter.streams_dispatch", ignore_result=True)
def streams_dispatch_task():
    """Beat, every PUMP_SECONDS: a pump task per due destination. A task outliving the
    next tick is not queued twice (it expires; the lock turns a second one away)."""
    for pk in due_destinations():
        stream_pump_task.apply_async((pk,), expires=_cfg("PUMP_SECONDS") * 2)


@shared_task(name="logcenter.stream_pump", ignore_result=True)
def stream_pump_task(destination_pk):
    pump(destination_pk)
