"""Verification: do the rows still match the signed, chained blocks they were sealed in?

Per kind, blocks are read in sequence order and each is checked on its own: its fields hash
to its digest, the digest is signed by a trusted key, it names the previous block's digest,
and its manifest hashes to the header's manifest_sha256. Then the rows from just after the
previous block up to the block's last id are read in id order (a server-side cursor: flat
memory whatever the table's size) and walked beside the manifest's entries:

    same id, same leaf           valid
    same id, another leaf        edited (or reordered: the leaf is another entry's)
    entry without its row        missing, unless a valid removal record lists the id
    row without an entry         inserted (or reordered: its leaf is another entry's)

Removal records are checked the same way (digest, signature, chain, their ids' hash); only
valid ones excuse a missing row. Every problem is counted; the first is told with its
block and row.
"""

import hashlib
import heapq
import time
from collections import Counter
from dataclasses import dataclass, field

from celery import shared_task
from django.db import transaction
from django.db.models import Max, Min
from django.utils import timezone

from logcenter.integrity import canonical, keys, rows
from logcenter.integrity.models import DigestBlock, IntegrityCheck, RemovalRecord
from logcenter.integrity.removals import decode_ids, removal_header
from logcenter.integrity.sealing import block_header

UNSEALED_CAP = 1_000_000

WHAT = {
    "edited": "the row no longer matches what was sealed",
    "missing": "a sealed row is gone and no removal record lists it",
    "inserted": "a row inside a sealed range was never sealed",
    "reordered": "the row holds what was sealed as another row",
    "digest_missing": "a digest block is missing from the chain",
    "badly_signed": "the block's signature does not verify with a trusted key",
    "chain_broken": "the block does not name the previous block's digest",
    "block_altered": "the block's fields or manifest no longer hash to its digest",
    "removal_invalid": "a removal record is missing, altered or badly signed",
}


@dataclass
class Problem:
    what: str
    kind: str
    block: int | None = None
    row: int | None = None
    detail: str = ""

    def as_dict(self):
        return {"what": self.what, "kind": self.kind, "block": self.block, "row": self.row,
                "detail": self.detail, "meaning": WHAT[self.what]}

    def __str__(self):
        where = []
        if self.block is not None:
            where.append(f"block {self.block}")
        if self.row is not None:
            where.append(f"row id {self.row}")
        text = f"{self.what.replace('_', ' ')}: {self.kind}"
        if where:
            text += " " + ", ".join(where)
        return f"{text}: {self.detail or WHAT[self.what]}"


@dataclass
class KindReport:
    kind: str
    blocks_valid: int = 0
    blocks_total: int = 0
    rows_valid: int = 0
    rows_total: int = 0
    rows_removed: int = 0
    removals_valid: int = 0
    removals_total: int = 0
    unsealed: int = 0  # rows after the last block, not yet sealed (counted up to a cap)
    head_seq: int | None = None
    head_digest: str = ""
    scope: str = ""
    seconds: float = 0.0
    problems: Counter = field(default_factory=Counter)
    first: Problem | None = None

    @property
    def ok(self):
        return not self.problems

    def add(self, problem, count=1):
        self.problems[problem.what] += count
        if self.first is None:
            self.first = problem

    def summary(self):
        text = (f"{self.kind}: {self.blocks_valid:,}/{self.blocks_total:,} digests valid, "
                f"{self.rows_valid:,}/{self.rows_total:,} rows valid")
        extra = []
        if self.rows_removed or self.removals_total:
            extra.append(f"{self.rows_removed:,} removed under "
                         f"{self.removals_valid:,}/{self.removals_total:,} valid removal records")
        if self.unsealed:
            cap = "+" if self.unsealed > UNSEALED_CAP else ""
            extra.append(f"{min(self.unsealed, UNSEALED_CAP):,}{cap} newer rows not sealed yet")
        return text + (f" ({'; '.join(extra)})" if extra else "")

    def as_dict(self):
        return {"kind": self.kind, "ok": self.ok, "scope": self.scope,
                "digests_valid": self.blocks_valid, "digests_total": self.blocks_total,
                "rows_valid": self.rows_valid, "rows_total": self.rows_total,
                "rows_removed": self.rows_removed, "removals_valid": self.removals_valid,
                "removals_total": self.removals_total,
                "unsealed_rows": min(self.unsealed, UNSEALED_CAP),
                "head": {"seq": self.head_seq, "digest": self.head_digest},
                "problems": dict(self.problems),
                "first_problem": self.first.as_dict() if self.first else None,
                "summary": self.summary(), "seconds": round(self.seconds, 3)}


class RemovalIndex:
    """Whether an id is listed by a valid removal record; asked in ascending id order."""

    def __init__(self):
        self._pending = []  # (first_id, n, record), not opened yet
        self._open = []  # (next id, n, iterator)
        self._n = 0

    def add(self, record):
        self._n += 1
        heapq.heappush(self._pending, (record.first_id, self._n, record))

    def __contains__(self, row_id):
        while self._pending and self._pending[0][0] <= row_id:
            _, n, record = heapq.heappop(self._pending)
            ids = decode_ids(record.ids)
            heapq.heappush(self._open, (next(ids), n, ids))
        while self._open and self._open[0][0] < row_id:
            _, n, ids = heapq.heappop(self._open)
            for value in ids:
                if value >= row_id:
                    heapq.heappush(self._open, (value, n, ids))
                    break
        return bool(self._open) and self._open[0][0] == row_id


class _Removals:
    """A kind's removal records, checked as they are read; newer ones are read before
    each block's rows, so a purge committed meanwhile excuses the rows it removed."""

    def __init__(self, report, trusted):
        self.report, self.trusted = report, trusted
        self.index = RemovalIndex()
        self.seq, self.digest = 0, canonical.GENESIS

    def refresh(self):
        records = RemovalRecord.objects.filter(kind=self.report.kind, seq__gt=self.seq)
        for record in records.order_by("seq"):
            report = self.report
            if record.seq != self.seq + 1:
                missing = record.seq - self.seq - 1
                report.removals_total += missing
                report.add(Problem("removal_invalid", report.kind,
                                   detail=f"removal records {self.seq + 1}–{record.seq - 1} "
                                          "are missing"), missing)
            report.removals_total += 1
            problem = self._check(record)
            if problem:
                report.add(Problem("removal_invalid", report.kind,
                                   detail=f"removal record {record.seq}: {problem}"))
            else:
                report.removals_valid += 1
                self.index.add(record)
            self.seq, self.digest = record.seq, record.digest

    def _check(self, record):
        if canonical.digest_of(removal_header(record)) != record.digest:
            return "its fields no longer hash to its digest"
        if hashlib.sha256(bytes(record.ids)).hexdigest() != record.ids_sha256:
            return "its list of ids was altered"
        key = self.trusted.get(record.key_id)
        if key is None or not keys.signature_valid(key, record.signature, record.digest):
            return f"badly signed (key {record.key_id})"
        if record.prev_digest != self.digest:
            return "it does not name the previous removal record's digest"
        return ""


def _block_problem(block, prev_digest, trusted):
    """(what, detail) of what is wrong with a block's header, or None. `prev_digest`
    None: the previous block is missing, the link is not checked."""
    if canonical.digest_of(block_header(block)) != block.digest:
        return "block_altered", "its fields no longer hash to its digest"
    key = trusted.get(block.key_id)
    if key is None:
        return "badly_signed", f"signed with key {block.key_id}, which is not trusted"
    if not keys.signature_valid(key, block.signature, block.digest):
        return "badly_signed", f"its signature does not verify with key {block.key_id}"
    if prev_digest is not None and block.prev_digest != prev_digest:
        return "chain_broken", (f"it names {block.prev_digest[:16]}… as the previous digest; "
                                f"the previous block's is {prev_digest[:16]}…")
    return None


def _rows(kind, after, upto, portable):
    return rows.leaves(kind.model, after, upto, portable=portable)


def _walk(report, block, manifest, rows, removals, trusted_rows):
    """Walk one block's rows beside its manifest (None: rows no digest covers)."""
    seq = block.seq if block is not None else None
    entries = canonical.entries(manifest) if manifest is not None else iter(())
    by_leaf = None
    entry, row = next(entries, None), next(rows, None)

    def other_id(leaf):
        nonlocal by_leaf
        if by_leaf is None:
            by_leaf = {leaf: row_id for row_id, leaf in canonical.entries(manifest)}
        return by_leaf.get(leaf)

    while entry is not None or row is not None:
        if row is not None and (entry is None or row[0] < entry[0]):
            report.rows_total += 1
            if trusted_rows:
                other = other_id(row[1])
                if other is not None:
                    report.add(Problem("reordered", report.kind, seq, row[0],
                                       f"it holds what was sealed as row id {other}"))
                else:
                    report.add(Problem("inserted", report.kind, seq, row[0]))
            row = next(rows, None)
        elif row is None or entry[0] < row[0]:
            if entry[0] in removals.index:
                report.rows_removed += 1
            else:
                report.rows_total += 1
                if trusted_rows:
                    report.add(Problem("missing", report.kind, seq, entry[0]))
            entry = next(entries, None)
        else:
            report.rows_total += 1
            if trusted_rows:
                leaf = row[1]
                if leaf == entry[1]:
                    report.rows_valid += 1
                else:
                    other = other_id(leaf)
                    if other is not None:
                        report.add(Problem("reordered", report.kind, seq, row[0],
                                           f"it holds what was sealed as row id {other}"))
                    else:
                        report.add(Problem("edited", report.kind, seq, row[0]))
            entry, row = next(entries, None), next(rows, None)


def _entries_of(rows_):
    """The manifest bytes that (id, leaf) rows would make."""
    pack = canonical.ENTRY.pack
    return b"".join([pack(row_id, leaf) for row_id, leaf in rows_])


def _block_range(slug, start, end):
    blocks = DigestBlock.objects.filter(kind=slug)
    if start is not None:
        blocks = blocks.filter(last_occurred_at__gte=start)
    if end is not None:
        blocks = blocks.filter(first_occurred_at__lt=end)
    found = blocks.aggregate(lo=Min("seq"), hi=Max("seq"))
    return found["lo"], found["hi"]


def _headers(slug, lo, hi, chunk=200):
    """The blocks lo..hi in order, without their manifests (read one at a time later)."""
    after = lo - 1
    while True:
        batch = list(DigestBlock.objects.filter(kind=slug, seq__gt=after, seq__lte=hi)
                     .defer("manifest").order_by("seq")[:chunk])
        yield from batch
        if len(batch) < chunk:
            return
        after = batch[-1].seq


def verify_kind(kind, *, start=None, end=None, trusted=None, portable=False, workers=1):
    """A KindReport of one kind: every block, or those whose rows' times meet
    [start, end) (and the chain link into the first of them). `workers` > 1 (PostgreSQL,
    outside a transaction): that many processes verify consecutive runs of blocks."""
    started = time.monotonic()
    trusted = trusted if trusted is not None else keys.trusted_keys()
    slug = kind.slug
    report = KindReport(kind=slug, scope=_scope(start, end))
    head = DigestBlock.objects.filter(kind=slug).order_by("-seq").values_list(
        "seq", "digest").first()
    if head:
        report.head_seq, report.head_digest = head
    if start is not None or end is not None:
        lo, hi = _block_range(slug, start, end)
    else:
        lo, hi = (1, head[0]) if head else (None, None)
    if lo is None:
        _Removals(report, trusted).refresh()
        report.seconds = time.monotonic() - started
        return report
    parts = _parts(slug, lo, hi, workers)
    if len(parts) == 1:
        after = _check_blocks(report, kind, lo, hi, trusted, portable, _Removals(report, trusted))
    else:
        after = _check_in_processes(report, kind, parts, trusted, portable)
    if hi == report.head_seq:
        report.unsealed = kind.model.objects.filter(pk__gt=after)[:UNSEALED_CAP + 1].count()
    report.seconds = time.monotonic() - started
    return report


def _check_blocks(report, kind, lo, hi, trusted, portable, removals):
    """Check blocks lo..hi and their rows into `report`; returns the last id they cover."""
    slug = kind.slug
    removals.refresh()
    # The chain into the first block: the newest block before it (blocks before it that
    # are missing show as a gap, as they would in the middle).
    prev_seq, prev_digest, after = (
        DigestBlock.objects.filter(kind=slug, seq__lt=lo).order_by("-seq")
        .values_list("seq", "digest", "last_id").first()) or (0, canonical.GENESIS, 0)
    for block in _headers(slug, lo, hi):
        removals.refresh()
        gap = block.seq - prev_seq - 1
        if gap:
            report.blocks_total += gap
            report.add(Problem("digest_missing", slug, prev_seq + 1, None,
                               f"blocks {prev_seq + 1}–{block.seq - 1} are missing from the "
                               "chain; the rows they sealed cannot be verified"), gap)
        report.blocks_total += 1
        problem = _block_problem(block, None if gap else prev_digest, trusted)
        manifest = bytes(DigestBlock.objects.filter(pk=block.pk)
                         .values_list("manifest", flat=True).get())
        if problem is None and (
                hashlib.sha256(manifest).hexdigest() != block.manifest_sha256
                or len(manifest) != block.row_count * canonical.ENTRY_SIZE):
            problem = ("block_altered", "its manifest no longer hashes to the header's")
        if problem:
            report.add(Problem(problem[0], slug, block.seq, None, problem[1]))
        else:
            report.blocks_valid += 1
        with transaction.atomic():
            if gap and after < block.first_id - 1:
                # Rows the missing blocks sealed: present, but nothing proves them.
                _walk(report, None, None, _rows(kind, after, block.first_id - 1, portable),
                      removals, False)
                after = block.first_id - 1
            rows_ = list(_rows(kind, after, block.last_id, portable))
            if problem is None and _entries_of(rows_) == manifest:
                # Every row as sealed, none missing or added: the common case, counted
                # without walking row by row.
                report.rows_total += len(rows_)
                report.rows_valid += len(rows_)
            else:
                _walk(report, block, manifest, iter(rows_), removals, problem is None)
        prev_seq, prev_digest, after = block.seq, block.digest, block.last_id
    removals.refresh()
    return after


def _parts(slug, lo, hi, workers):
    """Consecutive runs of blocks lo..hi holding about as many rows each, one a worker."""
    from django.db import connection

    from logcenter.core.registry import registry
    from logcenter.engines import engine_for

    if (workers <= 1 or not engine_for(registry[slug]).parallel_reads
            or connection.in_atomic_block):
        return [(lo, hi)]
    sizes = list(DigestBlock.objects.filter(kind=slug, seq__gte=lo, seq__lte=hi)
                 .order_by("seq").values_list("seq", "row_count"))
    if len(sizes) < 2 * workers:
        return [(lo, hi)]
    share, parts, start, total = sum(n for _, n in sizes) / workers, [], lo, 0
    for seq, rows_ in sizes:
        total += rows_
        if total >= share * (len(parts) + 1) and len(parts) < workers - 1 and seq < hi:
            parts.append((start, seq))
            start = seq + 1
    parts.append((start, hi))
    return parts


def _check_part(slug, lo, hi, trusted_hex, portable, first):
    """In a worker process: one run of blocks. Removal records are counted by the first
    part only (every part reads them, to know which rows they excuse)."""
    from logcenter.core.registry import registry

    trusted = {key_id: keys.parse_public(text) for key_id, text in trusted_hex.items()}
    report = KindReport(kind=slug)
    removals = _Removals(report if first else KindReport(kind=slug), trusted)
    after = _check_blocks(report, registry[slug], lo, hi, trusted, portable, removals)
    return report, after


def _check_in_processes(report, kind, parts, trusted, portable):
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    from django.db import connections

    connections.close_all()  # each process opens its own
    trusted_hex = {key_id: keys.public_key_hex(key) for key_id, key in trusted.items()}
    with ProcessPoolExecutor(len(parts), mp_context=multiprocessing.get_context("fork"),
                             initializer=connections.close_all) as pool:
        futures = [pool.submit(_check_part, kind.slug, lo, hi, trusted_hex, portable, n == 0)
                   for n, (lo, hi) in enumerate(parts)]
        results = [future.result() for future in futures]
    after = 0
    for part, after in results:
        for name in ("blocks_valid", "blocks_total", "rows_valid", "rows_total",
                     "rows_removed", "removals_valid", "removals_total"):
            setattr(report, name, getattr(report, name) + getattr(part, name))
        report.problems.update(part.problems)
        report.first = report.first or part.first
    return after


def _scope(start, end):
    if start is None and end is None:
        return ""
    return (f"{canonical.time_text(start) if start else '…'} – "
            f"{canonical.time_text(end) if end else '…'}")


def verify(kinds=None, *, start=None, end=None, public_keys=None, record_as=None, workers=1):
    """[KindReport] for every kind (or `kinds`). `public_keys`: trust only these (text);
    `record_as`: store each report as an IntegrityCheck requested by that name; `workers`:
    processes per kind (PostgreSQL)."""
    from logcenter.core.registry import registry

    trusted = keys.trusted_keys(public_keys)
    reports = []
    for kind in kinds or registry:
        started_at = timezone.now()
        report = verify_kind(kind, start=start, end=end, trusted=trusted, workers=workers)
        if record_as is not None:
            record_check(report, requested_by=record_as, started_at=started_at)
        reports.append(report)
    return reports


def record_check(report, *, requested_by, started_at):
    return IntegrityCheck.objects.create(
        kind=report.kind, started_at=started_at, finished_at=timezone.now(),
        requested_by=requested_by[:150], scope=report.scope[:120], ok=report.ok,
        blocks_valid=report.blocks_valid, blocks_total=report.blocks_total,
        rows_valid=report.rows_valid, rows_total=report.rows_total,
        rows_removed=report.rows_removed, removals_valid=report.removals_valid,
        removals_total=report.removals_total, last_block_seq=report.head_seq,
        problem=report.first.as_dict() if report.first else {},
        problems=dict(report.problems))


def verify_and_report(kinds=None, *, requested_by, start=None, end=None, public_keys=None):
    """Verify, keep each kind's result (IntegrityCheck) and write a system event per kind:
    info when valid, error naming the first problem when not. Returns the reports' dicts."""
    from logcenter.core.registry import registry
    from logcenter.core.services import system_event_record

    kinds = [registry[k] if isinstance(k, str) else k for k in (kinds or registry)]
    reports = verify(kinds, start=start, end=end, public_keys=public_keys,
                     record_as=requested_by)
    for report in reports:
        system_event_record(
            source="integrity", event="integrity.verified" if report.ok else
            "integrity.verify_failed", level="info" if report.ok else "error",
            resource_type="log_kind", resource_id=report.kind,
            message=report.summary() + ("" if report.ok else f"; first problem: {report.first}"),
            details={"problems": dict(report.problems), "scope": report.scope,
                     "first_problem": report.first.as_dict() if report.first else None,
                     "head_seq": report.head_seq, "requested_by": requested_by})
    return [report.as_dict() for report in reports]


@shared_task(name="logcenter.integrity_verify", ignore_result=True)
def integrity_verify(kind=None, requested_by="scheduled"):
    """Verify one kind (or all) and keep the result for the console (daily, or on demand)."""
    return verify_and_report([kind] if kind else None, requested_by=requested_by)
