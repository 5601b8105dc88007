"""Digest blocks, removal records (both append-only, signed and chained per kind) and the
results of verification runs (operational: the console's status)."""

from django.db import models
from django.utils import timezone

from logcenter.integrity import checks  # noqa: F401  (registers the deploy check of the signing key)


class DigestBlock(models.Model):
    """Up to BLOCK_ROWS rows of one kind, in id order, sealed: the manifest lists each
    row's (id, leaf); the header (these fields) hashes to `digest`, which covers the kind's
    previous block's digest and is signed with the key `key_id`."""

    kind = models.CharField(max_length=16)
    seq = models.PositiveBigIntegerField()  # 1, 2, … per kind
    first_id = models.BigIntegerField()
    last_id = models.BigIntegerField()
    row_count = models.PositiveIntegerField()
    first_occurred_at = models.DateTimeField(null=True)  # the earliest occurred_at sealed
    last_occurred_at = models.DateTimeField(null=True)  # the latest
    manifest = models.BinaryField()
    manifest_sha256 = models.CharField(max_length=64)
    prev_digest = models.CharField(max_length=64)
    digest = models.CharField(max_length=64)
    signature = models.CharField(max_length=128)
    key_id = models.CharField(max_length=16)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["kind", "seq"]
        constraints = [models.UniqueConstraint(fields=["kind", "seq"], name="digest_block_seq")]
        indexes = [models.Index(fields=["kind", "last_id"], name="digest_block_last_id_idx")]

    def __str__(self):
        return f"{self.kind} block {self.seq} (rows {self.first_id}-{self.last_id})"


class RemovalRecord(models.Model):
    """Rows of one kind removed by retention (a purge batch, a dropped partition) or by an
    administrator's deletion job: exactly which ids (`ids`: zlib of their deltas as
    varints), signed and chained per kind like the blocks."""

    kind = models.CharField(max_length=16)
    seq = models.PositiveBigIntegerField()
    reason = models.CharField(max_length=200)
    before = models.DateTimeField(null=True)  # the cutoff the rows were removed under
    row_count = models.PositiveBigIntegerField()
    first_id = models.BigIntegerField()
    last_id = models.BigIntegerField()
    ids = models.BinaryField()
    ids_sha256 = models.CharField(max_length=64)
    first_block_seq = models.PositiveBigIntegerField(null=True)  # the blocks the ids fall in
    last_block_seq = models.PositiveBigIntegerField(null=True)
    last_digest = models.CharField(max_length=64)  # the kind's newest block when removed
    prev_digest = models.CharField(max_length=64)
    digest = models.CharField(max_length=64)
    signature = models.CharField(max_length=128)
    key_id = models.CharField(max_length=16)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["kind", "seq"]
        constraints = [models.UniqueConstraint(fields=["kind", "seq"],
                                               name="removal_record_seq")]

    def __str__(self):
        return f"{self.kind} removal {self.seq}: {self.row_count} rows ({self.reason})"


class IntegrityCheck(models.Model):
    """One verification of one kind: its figures and the first problem found."""

    kind = models.CharField(max_length=16)
    started_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True)
    requested_by = models.CharField(max_length=150, blank=True, default="")
    scope = models.CharField(max_length=120, blank=True, default="")  # "" = every block
    ok = models.BooleanField(default=False)
    blocks_valid = models.PositiveBigIntegerField(default=0)
    blocks_total = models.PositiveBigIntegerField(default=0)
    rows_valid = models.PositiveBigIntegerField(default=0)
    rows_total = models.PositiveBigIntegerField(default=0)
    rows_removed = models.PositiveBigIntegerField(default=0)
    removals_valid = models.PositiveBigIntegerField(default=0)
    removals_total = models.PositiveBigIntegerField(default=0)
    last_block_seq = models.PositiveBigIntegerField(null=True)
    problem = models.JSONField(default=dict, blank=True)  # the first one
    problems = models.JSONField(default=dict, blank=True)  # {what: count}

    class Meta:
        ordering = ["-started_at", "-id"]
        indexes = [models.Index(fields=["kind", "started_at"], name="integrity_check_kind_idx")]

    def __str__(self):
        return f"{self.kind} verified {self.started_at:%Y-%m-%d %H:%M}: " \
               f"{'ok' if self.ok else 'FAILED'}"

    @property
    def summary(self):
        return (f"{self.blocks_valid:,}/{self.blocks_total:,} digests valid, "
                f"{self.rows_valid:,}/{self.rows_total:,} rows valid"
                + (f", {self.rows_removed:,} removed by retention" if self.rows_removed else ""))
