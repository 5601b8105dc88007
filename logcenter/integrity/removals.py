"""Signed records of rows removed on purpose: retention purges, dropped partitions,
administrators' deletion jobs.

`record_removal(kind, ids, reason=…)` is the one entry point. Call it in the transaction
that deletes the rows (before or after the DELETE, or before the DROP of a partition):
the record and the deletion then commit together or not at all. It lists exactly which ids
went (never a range that could cover a row deleted later by someone else), so a block
partly purged still verifies: each manifest entry without its row must be in a valid
removal record. The manifest keeps every removed row's leaf, so what a purged row held can
still be proven from a copy of it.
"""

import hashlib
import sys
import zlib
from datetime import timedelta

from django.db import connection, transaction
from django.db.models import Max, Min
from django.utils import timezone

from logcenter.engines import engine_for
from logcenter.integrity import canonical, keys
from logcenter.integrity.models import DigestBlock, RemovalRecord

_FLUSH_AT = 64 * 1024


def _varint(value, out):
    while value > 0x7F:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)


def encode_ids(ids):
    """(blob, count, first, last) of ascending ids: zlib of the deltas as varints (runs of
    consecutive ids cost almost nothing). ValueError if the ids do not ascend."""
    compressor, parts, buffer = zlib.compressobj(6), [], bytearray()
    previous, count, first = 0, 0, None
    for value in ids:
        value = int(value)
        if value <= previous and count:
            raise ValueError("removed ids must be given in ascending order, once each")
        if value < 0 or (not count and value == 0):
            raise ValueError(f"not a row id: {value}")
        if first is None:
            first = value
        _varint(value - previous, buffer)
        previous, count = value, count + 1
        if len(buffer) >= _FLUSH_AT:
            parts.append(compressor.compress(bytes(buffer)))
            buffer.clear()
    parts.append(compressor.compress(bytes(buffer)))
    parts.append(compressor.flush())
    return b"".join(parts), count, first, (previous if count else None)


def decode_ids(blob):
    """The ids of an encode_ids blob, ascending, read lazily (flat memory)."""
    decompressor = zlib.decompressobj()
    value = shift = current = 0
    for start in range(0, len(blob), _FLUSH_AT):
        for byte in decompressor.decompress(bytes(blob[start:start + _FLUSH_AT])):
            value |= (byte & 0x7F) << shift
            if byte & 0x80:
                shift += 7
                continue
            current += value
            yield current
            value = shift = 0
    for byte in decompressor.flush():
        value |= (byte & 0x7F) << shift
        if byte & 0x80:
            shift += 7
            continue
        current += value
        yield current
        value = shift = 0


def _kind_slug(kind):
    from logcenter.core.registry import registry

    if isinstance(kind, str):
        return registry[kind].slug
    if hasattr(kind, "slug"):
        return kind.slug
    return registry.for_model(kind).slug


def chain_lock(name, slug):
    """Take turns on one kind's chain (`name`: "block" or "removal") until the caller's
    transaction ends."""
    engine_for().take_turn(f"logcenter.integrity.{name}.{slug}")


def record_removal(kind, ids, *, reason, before=None):
    """Record that the rows `ids` of `kind` (a slug, LogKind or model) were removed on
    purpose; returns the RemovalRecord, or None when `ids` is empty.

    `ids`: a list, tuple or set (sorted here), or any iterable yielding ascending ids (a
    server-side cursor over a partition about to be dropped). `reason`: what removed them
    ("retention", "retention: partition …", "deletion job …"); `before`: the cutoff."""
    slug = _kind_slug(kind)
    if isinstance(ids, (list, tuple, set, frozenset)):
        ids = sorted(ids)
    blob, count, first, last = encode_ids(ids)
    if not count:
        return None
    signer = keys.signing_key()
    with transaction.atomic():
        chain_lock("removal", slug)
        previous = (RemovalRecord.objects.filter(kind=slug).order_by("-seq")
                    .values_list("seq", "digest").first()) or (0, canonical.GENESIS)
        head = (DigestBlock.objects.filter(kind=slug).order_by("-seq")
                .values_list("digest", flat=True).first()) or canonical.GENESIS
        touched = DigestBlock.objects.filter(kind=slug, last_id__gte=first,
                                             first_id__lte=last).aggregate(
            first=Min("seq"), last=Max("seq"))
        record = RemovalRecord(
            kind=slug, seq=previous[0] + 1, reason=reason[:200], before=before,
            row_count=count, first_id=first, last_id=last, ids=blob,
            ids_sha256=hashlib.sha256(blob).hexdigest(), first_block_seq=touched["first"],
            last_block_seq=touched["last"], last_digest=head, prev_digest=previous[1],
            key_id=signer.key_id, created_at=timezone.now())
        record.digest = canonical.digest_of(removal_header(record))
        record.signature = signer.sign(record.digest)
        record.save(force_insert=True)
    return record


def removal_header(record):
    return canonical.removal_header(
        kind=record.kind, seq=record.seq, reason=record.reason, before=record.before,
        row_count=record.row_count, first_id=record.first_id, last_id=record.last_id,
        ids_sha256=record.ids_sha256, first_block_seq=record.first_block_seq,
        last_block_seq=record.last_block_seq, last_digest=record.last_digest,
        prev_digest=record.prev_digest, key_id=record.key_id, created_at=record.created_at)


# --- the hooks retention calls -------------------------------------------------------

class RemovalMismatch(Exception):
    """The deletion removed other rows than those about to be recorded (a row of that age
    arrived meanwhile): the batch is rolled back, and tried again."""


def _plan(rows, before, limit):
    """(ids, bound, size): the `limit` oldest of `rows` before `before` (occurred_at, then id),
    widened to a whole group of rows of the same time at the edge, and the bound and
    limit under which a deletion of "rows older than bound, oldest first, at most size"
    removes exactly them, whatever order it gives rows of the same time."""
    oldest = list(rows.filter(occurred_at__lt=before).order_by("occurred_at", "pk")
                  .values_list("pk", "occurred_at")[:limit + 1])
    if len(oldest) <= limit:
        return [pk for pk, _ in oldest], before, limit
    edge, after_edge = oldest[limit - 1][1], oldest[limit][1]
    if edge < after_edge:
        return [pk for pk, _ in oldest[:limit]], after_edge, limit
    ids = [pk for pk, occurred in oldest if occurred < edge]
    ids += rows.filter(occurred_at=edge).values_list("pk", flat=True)
    return ids, edge + timedelta(microseconds=1), len(ids)


def purge_batch(model, before, limit, delete, *, reason, rows=None, attempts=3):
    """Delete one batch of `model`'s rows older than `before` with `delete(bound, size)`
    (retention's own deletion: on PostgreSQL the owner's function, which checks the
    policy) and record exactly which rows went, in the same transaction. `rows`: the
    queryset of rows `delete` takes from (core.selectors.purgeable_rows; default every
    row). Returns how many rows were deleted; about `limit`, fewer only when no older row
    is left."""
    slug = _kind_slug(model)
    rows = model.objects.all() if rows is None else rows
    for _ in range(attempts):
        try:
            with transaction.atomic():
                chain_lock("removal", slug)
                ids, bound, size = _plan(rows, before, limit)
                if not ids:
                    return 0
                deleted = delete(bound, size)
                left = model.objects.filter(pk__in=ids, occurred_at__lt=bound).exists()
                if deleted != len(ids) or left:
                    raise RemovalMismatch(f"{deleted} rows deleted, {len(ids)} expected")
                record_removal(slug, ids, reason=reason, before=before)
                return deleted
        except RemovalMismatch:
            continue
    raise RemovalMismatch(f"{slug}: rows of the purged age kept arriving; the batch was "
                          "rolled back (nothing deleted), the next run tries again")


class partition_drop:
    """`with partition_drop(model, partition, before=cutoff) as drop: … drop.check(count)`:
    records the partition's ids (all of them: it goes whole) and checks that the drop
    inside the block removed as many rows; one transaction for both."""

    def __init__(self, model, partition, *, before=None, reason="retention: partition dropped"):
        self.slug, self.partition = _kind_slug(model), partition
        self.model, self.before, self.reason = model, before, f"{reason} ({partition})"
        self.record, self._atomic = None, transaction.atomic()

    def __enter__(self):
        self._atomic.__enter__()
        try:
            self.record = record_removal(self.slug, self._ids(), reason=self.reason,
                                         before=self.before)
        except BaseException:
            self._atomic.__exit__(*sys.exc_info())
            raise
        return self

    def _ids(self):
        table = connection.ops.quote_name(self.partition)
        key = connection.ops.quote_name(self.model._meta.pk.column)
        with connection.chunked_cursor() as cursor:
            cursor.execute(f"SELECT {key} FROM {table} ORDER BY {key}")
            while batch := cursor.fetchmany(10_000):
                for (value,) in batch:
                    yield value

    def check(self, dropped):
        expected = self.record.row_count if self.record else 0
        if dropped != expected:
            raise RemovalMismatch(f"{self.partition}: {dropped} rows dropped, {expected} "
                                  "recorded (rows arrived meanwhile); rolled back")
        return dropped

    def __exit__(self, *exc):
        return self._atomic.__exit__(*exc)
