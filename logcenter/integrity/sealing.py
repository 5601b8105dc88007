"""Sealing: every kind's new rows, in id order, into signed blocks chained per kind.

A run (the beat task, every minute; or `manage.py seal_logs`) seals, per kind, the rows
after the kind's last block up to a **safe horizon**, BLOCK_ROWS at most per block.

Why a horizon: ids come from a sequence when a row is inserted, but rows become visible
when their transaction commits, so a transaction that drew id 100 may commit after one
that drew id 101. Sealing 101 while 100 is still in flight would leave 100 inside a sealed
range for good, and verification would call it "inserted". So, on PostgreSQL, a run reads
each kind's sequence (S), then waits until every transaction of this database that
started before that moment and has written anything has ended (pg_stat_activity), after
SETTLE_SECONDS that let a transaction which drew an id get its transaction id. Every id
up to S then is committed or never will be: rows up to S are sealed. A writer open longer
than WAIT_SECONDS postpones the run (sealing nothing, saying so); nothing is skipped.
The waits see the sessions of the database role the sealer runs as, so every writer of
log rows must use that role (the app role) or the sealer's role needs pg_read_all_stats.
SQLite has one writer at a time, committed in id order: no horizon is needed there.

Bulk loads that reserve ids first and make their rows visible later (`seed_demo --usage`,
Engine.bulk_load) should run while sealing is stopped, or their rows count as inserted.
"""

import hashlib
import time
from dataclasses import dataclass, field

from celery import shared_task
from django.conf import settings
from django.db import reset_queries, transaction
from django.utils import timezone

from logcenter.engines import engine_for
from logcenter.integrity import canonical, keys, rows
from logcenter.integrity.models import DigestBlock
from logcenter.integrity.removals import chain_lock

SEALING_LOCK = 0x4C43_5345  # 'LCSE': one sealing run at a time


@dataclass
class SealResult:
    blocks: int = 0
    rows: int = 0
    head_seq: int = 0
    waiting: str = ""  # why nothing was sealed (a writer still open)


@dataclass
class SealRun:
    kinds: dict = field(default_factory=dict)  # slug -> SealResult
    busy: bool = False  # another run held the lock
    seconds: float = 0.0

    @property
    def rows(self):
        return sum(r.rows for r in self.kinds.values())

    @property
    def blocks(self):
        return sum(r.blocks for r in self.kinds.values())


def _cfg(name):
    return settings.LOGCENTER_INTEGRITY[name]


def safe_horizons(kinds, *, settle=None, wait=None):
    """({slug: highest id safe to seal, or None for no limit}, why-not text). The text is
    non-empty (and the dict empty) when writers stayed open past `wait` seconds. The
    default database's engine decides (the one the writers of every kind share here)."""
    settle = _cfg("SETTLE_SECONDS") if settle is None else settle
    wait = _cfg("WAIT_SECONDS") if wait is None else wait
    return engine_for().seal_horizons(kinds, settle, wait)


def seal(kinds=None, *, block_rows=None, settle=None, wait=None):
    """Seal every kind's (or `kinds`') new rows; returns a SealRun."""
    from logcenter.core.registry import registry

    kinds = list(kinds or registry)
    run, started = SealRun(), time.monotonic()
    with engine_for().try_exclusive(SEALING_LOCK) as held:
        if not held:
            run.busy = True
            return run
        horizons, waiting = safe_horizons(kinds, settle=settle, wait=wait)
        for kind in kinds:
            if waiting:
                run.kinds[kind.slug] = SealResult(waiting=waiting, head_seq=_head(kind)[0])
                continue
            run.kinds[kind.slug] = seal_kind(kind, horizons[kind.slug], block_rows=block_rows)
    run.seconds = time.monotonic() - started
    return run


def _head(kind):
    """(seq, last_id, digest) of the kind's newest block, or the chain's start."""
    return (DigestBlock.objects.filter(kind=kind.slug).order_by("-seq")
            .values_list("seq", "last_id", "digest").first()) or (0, 0, canonical.GENESIS)


def seal_kind(kind, horizon=None, *, block_rows=None):
    """Seal the kind's rows after its last block, up to `horizon` (an id; None: all)."""
    block_rows = block_rows or _cfg("BLOCK_ROWS")
    result = SealResult()
    signer = keys.signing_key()
    while True:
        block = _seal_block(kind, horizon, block_rows, signer)
        if block is None:
            break
        result.blocks += 1
        result.rows += block.row_count
        if block.row_count < block_rows:
            break
    result.head_seq = _head(kind)[0]
    return result


def _seal_block(kind, horizon, block_rows, signer):
    with transaction.atomic():
        chain_lock("block", kind.slug)
        seq, after, prev_digest = _head(kind)
        manifest, pack = bytearray(), canonical.ENTRY.pack
        count, first_id, last_id, earliest, latest = 0, None, None, None, None
        for row_id, leaf, occurred in rows.leaves(kind.model, after, horizon, limit=block_rows,
                                                  with_time=True):
            manifest += pack(row_id, leaf)
            if occurred is not None:
                if earliest is None or occurred < earliest:
                    earliest = occurred
                if latest is None or occurred > latest:
                    latest = occurred
            if first_id is None:
                first_id = row_id
            last_id, count = row_id, count + 1
        if not count:
            return None
        manifest = bytes(manifest)
        block = DigestBlock(
            kind=kind.slug, seq=seq + 1, first_id=first_id, last_id=last_id, row_count=count,
            first_occurred_at=earliest, last_occurred_at=latest, manifest=manifest,
            manifest_sha256=hashlib.sha256(manifest).hexdigest(),
            prev_digest=prev_digest, key_id=signer.key_id, created_at=timezone.now())
        block.digest = canonical.digest_of(block_header(block))
        block.signature = signer.sign(block.digest)
        block.save(force_insert=True)
    if settings.DEBUG:
        # DEBUG keeps every query's text, a block's 400 kB manifest too, for as long as the
        # process lives (a worker's): forget them block by block.
        reset_queries()
    return block


def block_header(block):
    return canonical.block_header(
        kind=block.kind, seq=block.seq, first_id=block.first_id, last_id=block.last_id,
        row_count=block.row_count, first_occurred_at=block.first_occurred_at,
        last_occurred_at=block.last_occurred_at, manifest_sha256=block.manifest_sha256,
        prev_digest=block.prev_digest, key_id=block.key_id, created_at=block.created_at)


@shared_task(name="logcenter.integrity_seal", ignore_result=True)
def integrity_seal():
    """Seal every kind's new rows into signed, chained digest blocks (every minute)."""
    run = seal()
    return {"busy": run.busy, "blocks": run.blocks, "rows": run.rows}
