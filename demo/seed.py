"""Storing the demo: the 30-day set (`seed`) and extra rows of the event kinds (`add_events`).

`seed` draws everything from one `random.Random(SEED)`, and every row's event_id is a uuid5
of DEMO_NAMESPACE and "<kind>:<n>", so a second run inserts nothing new (a run that finds
the demo's rows already present skips generating them; after a partial wipe only the
missing rows go in). Times are relative to the moment of the run.
"""

import random
import uuid
from dataclasses import dataclass, field
from datetime import timedelta

from django.db import transaction
from django.utils import timezone

from accounts.models import ApiKey
from accounts.signals import suppress_admin_audit
from logcenter.analytics.rollups import rollup_rebuild
from logcenter.core.registry import registry
from logcenter.engines import engine_for

from demo.builder import CONTEXT_ROWS, DEMO_GENERATORS, DemoBuilder, demo_counts, demo_id
from demo.common import (
    DAYS, EXTRA_DAYS, SEED, Clock, ensure_keys, ensure_service_keys, ensure_users, key_infos,
)
from demo.organizations import ensure_organizations


@dataclass
class Seeded:
    users_created: int = 0
    keys_created: int = 0
    organizations_created: int = 0
    inserted: dict = field(default_factory=dict)
    skipped: bool = False


def demo_present(counts):
    """True when the first and last demo row of every kind are already stored."""
    models = {kind.slug: kind.model for kind in registry}
    return all(
        models[kind].objects.filter(event_id=demo_id(kind, 0)).exists()
        and models[kind].objects.filter(event_id=demo_id(kind, n - 1)).exists()
        for kind, n in counts.items() if n
    )


def stored_event_ids(model, event_ids, chunk=900):
    """Which of `event_ids` are already stored in `model`'s table (at any time)."""
    stored = set()
    for start in range(0, len(event_ids), chunk):
        stored.update(model.objects.filter(event_id__in=event_ids[start:start + chunk])
                      .values_list("event_id", flat=True))
    return stored


def seed(counts=None, now=None, log=print):
    """The demo's users, API keys and 30 days of rows of every registered kind; idempotent."""
    counts = demo_counts(counts)
    now = now or timezone.now()
    rng = random.Random(SEED)
    result = Seeded()
    # The demo writes its own, backdated audit history; the live audit signals stay quiet.
    with transaction.atomic(), suppress_admin_audit():
        people, result.users_created = ensure_users(rng, now)
        # Keys draw from their own stream, so the logs come out the same whether or not
        # this run had to create them.
        result.keys_created = ensure_keys(random.Random(SEED + 1), people, now)
        ensure_service_keys(next(p.user for p in people if p.user.is_superuser
                                 or p.user.username == "admin"))
        result.organizations_created = ensure_organizations(people, now)
        if demo_present(counts):
            result.skipped = True
            return result
        keys = key_infos(rng, people)
        clock = Clock(rng, now, DAYS)
        built = DemoBuilder(rng, now, clock, people, keys, counts).build()
        for kind in registry:
            kind, model, rows = kind.slug, kind.model, built[kind.slug]
            # After a partial wipe only the missing rows go in. A re-run dates the rows
            # anew, and on PostgreSQL a usage event_id is unique only with its time, so
            # ignore_conflicts alone stored the same ids a second time.
            stored = stored_event_ids(model, [row.event_id for row in rows])
            rows = [row for row in rows if row.event_id not in stored]
            before = model.objects.count()
            model.objects.bulk_create(rows, batch_size=2000, ignore_conflicts=True)
            result.inserted[kind] = model.objects.count() - before
        rollup_rebuild()  # bulk inserts bypass the per-row rollup upkeep
        # Keys remember when they were last used.
        last_used = {}
        for row in built["usage"]:
            key_id = row.api_key_id
            if row.occurred_at > last_used.get(key_id, row.occurred_at - timedelta(1)):
                last_used[key_id] = row.occurred_at
        updated = []
        for info in keys:
            when = last_used.get(info.sid)
            if when and (info.key.last_used_at is None or info.key.last_used_at < when):
                info.key.last_used_at = when
                updated.append(info.key)
        ApiKey.objects.bulk_update(updated, ["last_used_at"])
    return result


def add_events(counts, days=EXTRA_DAYS, round_size=50_000, log=print):
    """Append rows of the kinds in `counts` ({slug: rows}) over the last `days` days;
    returns {slug: rows added}.

    The kinds' own generators make them, in rounds of about `round_size` rows (each round
    one more pass of the demo's stories over the window), with random event ids; a kind
    they are built after gets CONTEXT_ROWS rows to refer to, which are not stored.
    """
    rng = random.Random()
    now = timezone.now()
    kinds = [kind for kind in registry if counts.get(kind.slug)]
    remaining = {kind.slug: max(0, counts[kind.slug]) for kind in kinds}
    added = dict.fromkeys(remaining, 0)
    context = {}
    for kind in kinds:
        for before in DEMO_GENERATORS[kind.slug].after:
            context.setdefault(before, CONTEXT_ROWS)
    with suppress_admin_audit():
        # The demo's own stream finds the demo's users (a fresh one would invent new ones).
        people, _ = ensure_users(random.Random(SEED), now)
        ensure_keys(random.Random(SEED + 1), people, now)  # finds them; fills person.keys
        ensure_organizations(people, now)  # finds them; fills their organization
        keys = key_infos(rng, people)
        while any(remaining.values()):
            scale = min(1.0, round_size / sum(remaining.values()))
            share = {k: min(v, max(1, round(v * scale))) if v else 0
                     for k, v in remaining.items()}
            built = DemoBuilder(rng, now, Clock(rng, now, days), people, keys,
                                {**context, **share}).build([k for k, v in share.items() if v])
            for kind in kinds:
                rows = built[kind.slug][:remaining[kind.slug]]
                for row in rows:
                    row.event_id = uuid.uuid4()
                kind.model.objects.bulk_create(rows, batch_size=5_000)
                added[kind.slug] += len(rows)
                remaining[kind.slug] -= len(rows)
            log("  " + ", ".join(f"{slug} {n:,}" for slug, n in added.items()))
    for kind in kinds:  # what the store would do next after so many rows, done now
        engine_for(kind).after_bulk_load([kind.model])
    return added
