"""Tamper evidence: rows sealed into signed, chained digest blocks; verify_logs names what
was edited, removed, inserted or reordered; retention's removals stay verifiable.

Tampering is done as PostgreSQL's superuser on a connection of its own, past the triggers
(session_replication_role = replica), on committed rows: those tests are transactional.
"""

import base64
import hashlib
import io
import json
from contextlib import contextmanager
from datetime import timedelta
from decimal import Decimal

import psycopg
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import (Ed25519PrivateKey,
                                                               Ed25519PublicKey)
from django.core.management import call_command
from django.db import DatabaseError, connection, models, transaction
from django.utils import timezone

from logcenter.retention import purge as retention
from logcenter.integrity import canonical, keys, removals, rows, sealing, verification
from logcenter.integrity.models import DigestBlock, IntegrityCheck, RemovalRecord
from logcenter.models import AuditEvent, AuthEvent, ExportJob, SystemEvent, UsageRecord
from logcenter.core.registry import registry
from tests.factories import FACTORIES, MemberFactory, StaffFactory

pytestmark = pytest.mark.django_db
KINDS = list(registry)


def seal(**kwargs):
    return sealing.seal(settle=0, wait=5, **kwargs)


def report_of(slug, **kwargs):
    return verification.verify_kind(registry[slug], **kwargs)


def days_ago(n):
    return timezone.now() - timedelta(days=n)


@contextmanager
def superuser():
    """A cursor of a connection of its own, as PostgreSQL's superuser (PG_SUPERUSER_URL, as
    scripts/db_roles.py takes it, or the role the tests run as), with triggers off: how
    someone holding the database's keys rewrites it. Commits at the end of the block."""
    import os
    from urllib.parse import urlparse

    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL")
    db = connection.settings_dict
    superuser_url = urlparse(os.environ.get("PG_SUPERUSER_URL")
                             or "postgres://postgres@127.0.0.1:5432/postgres")
    candidates = [dict(host=superuser_url.hostname, port=superuser_url.port or 5432,
                       user=superuser_url.username, password=superuser_url.password),
                  dict(host=db["HOST"] or "127.0.0.1", port=db["PORT"] or 5432,
                       user=db["USER"] or "postgres", password=db["PASSWORD"] or None)]
    for credentials in candidates:
        try:
            conn = psycopg.connect(dbname=db["NAME"], **credentials)
        except psycopg.OperationalError:
            continue
        with conn, conn.cursor() as cursor:
            try:
                cursor.execute("SET session_replication_role = replica")
            except psycopg.errors.InsufficientPrivilege:
                conn.rollback()
                continue
            yield cursor
            conn.commit()
            return
    pytest.skip("tampering needs a superuser connection (PG_SUPERUSER_URL)")


def concrete_columns(model, but=("id",)):
    return [f.column for f in model._meta.concrete_fields if f.column not in but]


# --- the canonical form ---------------------------------------------------------------

@pytest.mark.parametrize("kind", KINDS, ids=lambda k: k.slug)
def test_the_leaf_covers_every_stored_field_of_every_kind(kind):
    form = canonical.row_form(kind.model)
    assert form.names == [f.attname for f in kind.model._meta.concrete_fields
                          if not f.primary_key]
    assert form.attnames[0] == kind.model._meta.pk.attname
    row = FACTORIES[kind.slug]()
    values = kind.model.objects.filter(pk=row.pk).values_list(*form.attnames).get()
    content = form.content(values)
    for field in kind.model._meta.concrete_fields:
        if field.primary_key:
            continue
        changed = list(values)
        index = form.attnames.index(field.attname)
        changed[index] = _another(field, values[index])
        assert form.leaf(changed) != form.leaf(values), field.name
    assert json.loads(canonical.encode(content)) == content


def _another(field, value):
    if isinstance(field, models.BooleanField):
        return not value
    if isinstance(field, models.DateTimeField):
        return value + timedelta(microseconds=1)
    if isinstance(field, models.DecimalField):
        return value + Decimal(1)
    if isinstance(field, models.IntegerField):
        return (value or 0) + 1
    if isinstance(field, models.UUIDField):
        import uuid

        return uuid.uuid4()
    if isinstance(field, models.JSONField):
        return {"changed": True}
    if isinstance(field, models.GenericIPAddressField):
        return "198.51.100.1" if value != "198.51.100.1" else "198.51.100.2"
    return (value or "") + "x"


def test_the_canonical_form_is_documented_json():
    model = AuditEvent
    row = FACTORIES["audit"](occurred_at=timezone.now().replace(microsecond=0),
                             metadata={"b": 1, "a": [True, None, 1.5]}, ip=None,
                             user_agent="agent", resource_name="name")
    values = model.objects.filter(pk=row.pk).values_list(*canonical.row_form(model).attnames).get()
    text = canonical.encode(canonical.row_form(model).content(values)).decode()
    assert '"metadata":{"a":[true,null,1.5],"b":1}' in text
    assert f'"occurred_at":"{row.occurred_at:%Y-%m-%dT%H:%M:%S}.000000Z"' in text
    assert '"ip":null' in text and " " not in text
    assert f'"event_id":"{row.event_id}"' in text and '"id"' not in text


TRICKY = ["", "quote \" backslash \\ slash /", "tab\there\nnewline\r\x01\x1f\x7f",
          "unicode é 漢字 \u2028 \u2029 😀", "json-looking {\"a\":null}", "\"metadata\":null",
          "\\N", "COPY's own escapes: \\t \\n \\\\ \b\f\v", "\\",
          "the reader's separator: \u241f", "\u241f", "\u00a0 no-break space"]


def test_postgresql_writes_the_same_canonical_form_as_python(on_postgres):
    """The fast reader (PostgreSQL's text of each value, written as JSON by Python) and the
    portable one (the ORM and Python) give every row the same leaf, whatever its text,
    numbers, times, nulls and JSON."""
    from logcenter.engines.postgres import leaves

    base = timezone.now().replace(microsecond=0)
    for n, text in enumerate(TRICKY):
        # Times with no fraction, a short one and all six digits (COPY drops zeros).
        occurred = base - timedelta(seconds=n, microseconds=(0, 500000, 1, 123456)[n % 4])
        # The customer fields: left out of the form while empty, written when set.
        customer = {"organization_id": f"org_{n}" if n % 2 else "",
                    "project_id": f"proj_{text[:50]}" if n % 3 else ""}
        FACTORIES["audit"](occurred_at=occurred, actor_name=text, reason=text, **customer,
                           resource_name=text[:200],
                           ip=None if n % 2 else "2001:db8::1",
                           changes={"z": {"before": text, "after": n}, "a": [1.25, 1e-7, 10**20]},
                           metadata={"k": text, "n": n * 0.1, "b": n % 2 == 0})
        FACTORIES["usage"](occurred_at=occurred, error_message=text, **customer,
                           cost=Decimal("0.00000001") * n - (Decimal(3) if n == 3 else 0),
                           first_token_ms=None if n % 2 else n, billing_items=[
                               {"unit_price": "0.0000025", "quantity": 1200, "x": {"b": 1, "a": 2}}])
        FACTORIES["system"](message=text, details={"nested": {"y": [text], "x": None}})
        FACTORIES["auth"](username_attempted=text, user_agent=text)
        for kind in KINDS[4:]:  # any other kind: the envelope's text and JSON
            FACTORIES[kind.slug](actor_name=text, user_agent=text, metadata={"k": text, "n": n})
    for kind in KINDS:
        with transaction.atomic():
            fast = list(rows.leaves(kind.model, 0, with_time=True))
            portable = list(rows.leaves(kind.model, 0, with_time=True, portable=True))
        assert leaves.supports(kind.model), kind.slug  # the fast path was the one compared
        assert fast == portable and len(fast) >= len(TRICKY), kind.slug


# --- sealing and verifying ------------------------------------------------------------

def test_every_kind_is_sealed_in_id_order_into_chained_signed_blocks():
    for kind in KINDS:
        FACTORIES[kind.slug].create_batch(5)
    # The console writes rows of its own too (audit events, system events): count them all.
    made = {kind.slug: sorted(kind.model.objects.values_list("pk", flat=True)) for kind in KINDS}
    run = seal(block_rows=2)
    for kind in KINDS:
        blocks = list(DigestBlock.objects.filter(kind=kind.slug).order_by("seq"))
        n = len(made[kind.slug])
        assert [b.row_count for b in blocks] == [2] * (n // 2) + [1] * (n % 2), kind.slug
        assert blocks[0].prev_digest == canonical.GENESIS
        assert [b.prev_digest for b in blocks[1:]] == [b.digest for b in blocks[:-1]]
        ids = [row_id for b in blocks for row_id, _ in canonical.entries(bytes(b.manifest))]
        assert ids == made[kind.slug]
        assert run.kinds[kind.slug].rows == n
        signer = keys.signing_key()
        assert all(b.key_id == signer.key_id and keys.signature_valid(
            signer.private.public_key(), b.signature, b.digest) for b in blocks)
    assert seal().rows == 0  # nothing new: no empty blocks
    FACTORIES["auth"]()
    assert seal().kinds["auth"].blocks == 1
    for report in verification.verify():
        assert report.ok and report.blocks_valid == report.blocks_total, report.summary()
        assert report.rows_valid == report.rows_total == registry[report.kind].model.objects.count()
        assert report.unsealed == 0


def test_rows_stored_after_the_last_block_are_reported_as_not_sealed_yet():
    FACTORIES["auth"].create_batch(3)
    seal()
    FACTORIES["auth"].create_batch(2)
    report = report_of("auth")
    assert report.ok and report.rows_total == 3 and report.unsealed == 2
    assert "2 newer rows not sealed yet" in report.summary()


def test_the_horizon_is_the_last_id_drawn_when_no_writer_is_open(on_postgres):
    row = FACTORIES["audit"]()
    horizons, waiting = sealing.safe_horizons(KINDS, settle=0, wait=0)
    assert not waiting and horizons["audit"] >= row.pk


@pytest.mark.django_db(transaction=True)
def test_sealing_waits_while_a_writer_is_open_and_seals_after_it_commits(on_postgres):
    FACTORIES["auth"]()
    db = connection.settings_dict
    with psycopg.connect(host=db["HOST"] or "127.0.0.1", port=db["PORT"] or 5432,
                         user=db["USER"] or "postgres", password=db["PASSWORD"] or None,
                         dbname=db["NAME"]) as other:
        columns = ", ".join(f'"{c}"' for c in concrete_columns(AuthEvent, but=("id", "event_id")))
        other.execute(f"INSERT INTO logcenter_authevent ({columns}, event_id) SELECT {columns}, "
                      f"gen_random_uuid() FROM logcenter_authevent LIMIT 1")
        run = sealing.seal(settle=0, wait=0.3)
        assert run.kinds["auth"].waiting and not DigestBlock.objects.exists()
        other.commit()
    run = seal()
    assert run.kinds["auth"].rows == 2 and report_of("auth").ok


@pytest.mark.django_db(transaction=True)
def test_only_one_sealing_run_at_a_time(on_postgres):
    from django.db import connections

    FACTORIES["auth"]()
    other = connections.create_connection("default")
    try:
        with other.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_lock(%s)", [sealing.SEALING_LOCK])
        run = seal()
        assert run.busy and not DigestBlock.objects.exists()
        with other.cursor() as cursor:  # a closed session's locks go only once it has ended
            cursor.execute("SELECT pg_advisory_unlock(%s)", [sealing.SEALING_LOCK])
    finally:
        other.close()
    assert seal().kinds["auth"].rows == 1


def test_digest_blocks_and_removal_records_are_append_only(on_postgres):
    FACTORIES["auth"]()
    seal()
    for statement in ("UPDATE logcenter_digestblock SET row_count = 0",
                      "DELETE FROM logcenter_digestblock",
                      "UPDATE logcenter_removalrecord SET reason = ''",
                      "DELETE FROM logcenter_removalrecord"):
        # Refused by the trigger, or before it by privileges (the app role of two roles).
        with pytest.raises(DatabaseError, match="append-only|permission denied"):
            with transaction.atomic(), connection.cursor() as cursor:
                cursor.execute(statement)
    with connection.cursor() as cursor:
        # TRUNCATE too, for anyone but the table's owner (the test runner's flush is the
        # owner's: migration 0020).
        cursor.execute("SELECT count(*) FROM pg_trigger WHERE tgname LIKE %s "
                       "AND tgtype & 32 = 32", ["logcenter\\_%record\\_append\\_only"])
        assert cursor.fetchone()[0] == 1
    from logcenter.engines.postgres import db_roles

    if db_roles.split_roles():  # as the app role: refused, whatever the database is named
        for table in ("logcenter_digestblock", "logcenter_removalrecord"):
            with pytest.raises(DatabaseError, match="append-only|permission denied"):
                with transaction.atomic(), connection.cursor() as cursor:
                    cursor.execute(f"TRUNCATE {table}")
        with connection.cursor() as cursor:
            cursor.execute("SELECT count(*) FROM logcenter_digestblock")
            assert cursor.fetchone()[0] > 0


def test_verify_logs_prints_the_figures_and_stores_them_for_the_console():
    for kind in KINDS:
        FACTORIES[kind.slug].create_batch(2)
    seal()
    out = io.StringIO()
    call_command("verify_logs", stdout=out)
    text = out.getvalue()
    assert "auth: 1/1 digests valid, 2/2 rows valid" in text
    total = sum(kind.model.objects.count() for kind in KINDS)
    n = len(KINDS)
    assert text.strip().endswith(f"{n}/{n} digests valid, {total}/{total} rows valid")
    assert IntegrityCheck.objects.filter(ok=True).count() == len(KINDS)
    out = io.StringIO()
    call_command("verify_logs", "--kind", "usage", "--from", "2000-01-01", "--no-record",
                 stdout=out)
    assert "usage: 1/1 digests valid, 2/2 rows valid" in out.getvalue()
    assert IntegrityCheck.objects.count() == len(KINDS)


def test_verify_a_time_range_checks_only_the_blocks_holding_it():
    FACTORIES["system"](occurred_at=days_ago(10))
    seal()
    FACTORIES["system"](occurred_at=days_ago(1))
    seal()
    report = report_of("system", start=days_ago(2), end=timezone.now())
    assert report.ok and (report.blocks_total, report.rows_total) == (1, 1)
    assert report.scope
    report = report_of("system", start=days_ago(30), end=days_ago(20))
    assert report.ok and report.blocks_total == 0


# --- tampering, each caught and named --------------------------------------------------

def first_problem(slug):
    report = report_of(slug)
    assert not report.ok
    return report, report.first


def verify_logs_output(slug):
    out = io.StringIO()
    with pytest.raises(SystemExit) as exit_:
        call_command("verify_logs", "--kind", slug, "--no-record", stdout=out)
    assert exit_.value.code == 1
    return out.getvalue()


tamper = pytest.mark.django_db(transaction=True)


@tamper
def test_an_edited_field_is_caught_and_named():
    rows_ = FACTORIES["auth"].create_batch(4)
    seal()
    with superuser() as cursor:
        cursor.execute("UPDATE logcenter_authevent SET username_attempted = 'someone else' "
                       "WHERE id = %s", [rows_[2].pk])
    report, problem = first_problem("auth")
    assert (problem.what, problem.row, problem.block) == ("edited", rows_[2].pk, 1)
    assert (report.rows_valid, report.rows_total, report.blocks_valid) == (3, 4, 1)
    text = verify_logs_output("auth")
    assert "auth: 1/1 digests valid, 3/4 rows valid" in text
    assert f"first problem: edited: auth block 1, row id {rows_[2].pk}" in text


@tamper
def test_a_deleted_row_is_caught_as_missing():
    rows_ = FACTORIES["usage"].create_batch(3)
    seal()
    with superuser() as cursor:
        cursor.execute("DELETE FROM logcenter_usagerecord WHERE id = %s", [rows_[1].pk])
    report, problem = first_problem("usage")
    assert (problem.what, problem.row) == ("missing", rows_[1].pk)
    assert (report.rows_valid, report.rows_total) == (2, 3)
    assert "missing: usage block 1, row id" in verify_logs_output("usage")


@tamper
def test_a_forged_row_inside_a_sealed_range_is_caught_as_inserted():
    rows_ = FACTORIES["system"].create_batch(3)
    seal()
    forged = rows_[0].pk - 1
    columns = concrete_columns(SystemEvent, but=("id", "event_id", "message"))
    listed = ", ".join(f'"{c}"' for c in columns)
    with superuser() as cursor:
        cursor.execute(f"INSERT INTO logcenter_systemevent (id, event_id, message, {listed}) "
                       f"SELECT %s, gen_random_uuid(), 'all is well', {listed} "
                       f"FROM logcenter_systemevent WHERE id = %s", [forged, rows_[0].pk])
    report, problem = first_problem("system")
    assert (problem.what, problem.row) == ("inserted", forged)
    assert report.rows_valid == report.rows_total - 1 == SystemEvent.objects.count() - 1
    assert "inserted: system block 1" in verify_logs_output("system")


@tamper
def test_two_rows_swapped_are_caught_as_reordered():
    rows_ = FACTORIES["audit"].create_batch(4)
    seal()
    a, b = rows_[1].pk, rows_[3].pk
    with superuser() as cursor:
        cursor.execute("UPDATE logcenter_auditevent SET id = -1 WHERE id = %s", [a])
        cursor.execute("UPDATE logcenter_auditevent SET id = %s WHERE id = %s", [a, b])
        cursor.execute("UPDATE logcenter_auditevent SET id = %s WHERE id = -1", [b])
    report, problem = first_problem("audit")
    assert (problem.what, problem.row) == ("reordered", a)
    assert problem.detail == f"it holds what was sealed as row id {b}"
    assert report.problems == {"reordered": 2}
    assert "reordered: audit block 1" in verify_logs_output("audit")


@tamper
def test_a_truncated_partition_is_caught_as_missing_rows(on_postgres):
    from logcenter.engines.postgres import partitions

    kept = FACTORIES["usage"](occurred_at=days_ago(40))
    lost = FACTORIES["usage"].create_batch(3, occurred_at=timezone.now() - timedelta(hours=1))
    seal()
    name = partitions.partition_name(partitions.month_start(lost[0].occurred_at))
    assert name != partitions.partition_name(partitions.month_start(kept.occurred_at))
    with superuser() as cursor:
        cursor.execute(f'TRUNCATE "{name}"')
    report, problem = first_problem("usage")
    assert (problem.what, report.problems["missing"]) == ("missing", 3)
    assert problem.row == min(r.pk for r in lost) and report.rows_valid == 1


@tamper
def test_a_dropped_digest_block_is_caught():
    FACTORIES["auth"].create_batch(6)
    seal(block_rows=2)
    with superuser() as cursor:
        cursor.execute("DELETE FROM logcenter_digestblock WHERE kind = 'auth' AND seq = 2")
    report, problem = first_problem("auth")
    assert (problem.what, problem.block) == ("digest_missing", 2)
    assert (report.blocks_valid, report.blocks_total) == (2, 3)
    assert (report.rows_valid, report.rows_total) == (4, 6)  # block 2's rows: unproven
    assert "digest missing: auth block 2" in verify_logs_output("auth")


@tamper
def test_blocks_re_signed_with_another_key_are_caught():
    rows_ = FACTORIES["audit"].create_batch(2)
    seal()
    block = DigestBlock.objects.get(kind="audit")
    # The forger edits a row, makes the manifest and digest match, and signs with a key of
    # their own: everything hashes, nothing verifies with the trusted key.
    forger = keys.SigningKey(Ed25519PrivateKey.generate(), "test")
    with superuser() as cursor:
        cursor.execute("UPDATE logcenter_auditevent SET action = 'user.deleted' WHERE id = %s",
                       [rows_[0].pk])
    with transaction.atomic():
        leaves = dict(rows.leaves(AuditEvent, 0))
    manifest = b"".join(canonical.ENTRY.pack(i, leaves[i]) for i in sorted(leaves))
    block.manifest, block.manifest_sha256 = manifest, hashlib.sha256(manifest).hexdigest()
    block.key_id = forger.key_id
    block.digest = canonical.digest_of(sealing.block_header(block))
    with superuser() as cursor:
        cursor.execute("UPDATE logcenter_digestblock SET manifest = %s, manifest_sha256 = %s, "
                       "key_id = %s, digest = %s, signature = %s WHERE id = %s",
                       [manifest, block.manifest_sha256, forger.key_id, block.digest,
                        forger.sign(block.digest), block.pk])
    report, problem = first_problem("audit")
    assert (problem.what, problem.block) == ("badly_signed", 1)
    assert forger.key_id in problem.detail and report.rows_valid == 0
    assert "badly signed: audit block 1" in verify_logs_output("audit")
    # Keeping the trusted key id does not help: the signature does not verify with it.
    with superuser() as cursor:
        cursor.execute("UPDATE logcenter_digestblock SET key_id = %s, digest = %s WHERE id = %s",
                       [keys.signing_key().key_id, "0" * 64, block.pk])
    assert first_problem("audit")[1].what in ("block_altered", "badly_signed")


@tamper
def test_an_altered_block_record_and_a_broken_chain_are_caught():
    FACTORIES["system"].create_batch(4)
    seal(block_rows=2)
    with superuser() as cursor:
        cursor.execute("UPDATE logcenter_digestblock SET row_count = 1 "
                       "WHERE kind = 'system' AND seq = 1")
    assert first_problem("system")[1].what == "block_altered"
    # A block whose header is genuine (signed with the real key) but names another parent.
    with superuser() as cursor:
        cursor.execute("UPDATE logcenter_digestblock SET row_count = 2 "
                       "WHERE kind = 'system' AND seq = 1")
    block = DigestBlock.objects.get(kind="system", seq=2)
    block.prev_digest = "f" * 64
    block.digest = canonical.digest_of(sealing.block_header(block))
    with superuser() as cursor:
        cursor.execute("UPDATE logcenter_digestblock SET prev_digest = %s, digest = %s, "
                       "signature = %s WHERE id = %s",
                       [block.prev_digest, block.digest, keys.signing_key().sign(block.digest),
                        block.pk])
    report, problem = first_problem("system")
    assert (problem.what, problem.block, report.blocks_valid) == ("chain_broken", 2, 1)


@tamper
def test_two_worker_processes_verify_consecutive_runs_of_blocks(on_postgres):
    made = FACTORIES["auth"].create_batch(12)
    seal(block_rows=2)
    assert verification._parts("auth", 1, 6, 2) == [(1, 3), (4, 6)]
    report = report_of("auth", workers=2)
    assert report.ok and (report.blocks_valid, report.rows_valid) == (6, 12)
    with superuser() as cursor:
        cursor.execute("UPDATE logcenter_authevent SET result = 'failure' WHERE id = %s",
                       [made[9].pk])
        cursor.execute("DELETE FROM logcenter_digestblock WHERE kind = 'auth' AND seq = 4")
    report = report_of("auth", workers=2)
    # The second worker starts at block 4's successor's chain: the gap is seen there.
    assert (report.first.what, report.first.block) == ("digest_missing", 4)
    assert report.problems == {"digest_missing": 1, "edited": 1}
    assert (report.blocks_valid, report.blocks_total, report.rows_valid) == (5, 6, 9)


# --- retention's removals --------------------------------------------------------------

def test_removed_ids_round_trip_compactly():
    ids = list(range(1, 100_001)) + [10**12, 10**12 + 7]
    blob, count, first, last = removals.encode_ids(ids)
    assert (count, first, last) == (len(ids), 1, 10**12 + 7) and len(blob) < 2_000
    assert list(removals.decode_ids(blob)) == ids
    with pytest.raises(ValueError):
        removals.encode_ids([3, 2])


@tamper
def test_a_purge_keeps_verification_green_and_a_later_removal_is_still_caught():
    old = FACTORIES["system"].create_batch(5, occurred_at=days_ago(40))
    kept = FACTORIES["system"].create_batch(3, occurred_at=days_ago(1))
    old_audit = FACTORIES["audit"].create_batch(2, occurred_at=days_ago(400))
    seal(block_rows=3)  # blocks mix expired and kept rows: partly purged blocks
    report = retention.retention_purge(batch_size=2)
    assert report.deleted["system"] == 5 and report.deleted["audit"] == 2
    records = list(RemovalRecord.objects.filter(kind="system").order_by("seq"))
    assert sum(r.row_count for r in records) == 5 and records[0].reason == "retention"
    assert sorted(i for r in records for i in removals.decode_ids(r.ids)) == \
        sorted(r.pk for r in old)
    for slug in ("system", "audit"):
        report = report_of(slug)
        assert report.ok, (report.summary(), report.first)
    report = report_of("system")
    assert (report.rows_valid, report.rows_total, report.rows_removed) == (3, 3, 5)
    assert report.removals_valid == report.removals_total == len(records)
    assert report_of("audit").rows_removed == len(old_audit)
    if connection.vendor == "postgresql":
        with superuser() as cursor:  # past the triggers, with no record
            cursor.execute("DELETE FROM logcenter_systemevent WHERE id = %s", [kept[0].pk])
    else:
        SystemEvent.objects.filter(pk=kept[0].pk).delete()
    report = report_of("system")
    assert (report.first.what, report.first.row) == ("missing", kept[0].pk)


def test_a_deletion_job_writes_its_removal_record_too(staff):
    rows_ = FACTORIES["auth"].create_batch(3, occurred_at=days_ago(200))
    seal()
    job = retention.deletion_request(actor=staff, kind_slug="auth", before=days_ago(100))
    job.refresh_from_db()
    assert job.rows_deleted == 3
    record = RemovalRecord.objects.get(kind="auth")
    assert record.reason.startswith(f"deletion job {job.job_id}") and record.row_count == 3
    assert sorted(removals.decode_ids(record.ids)) == sorted(r.pk for r in rows_)
    assert report_of("auth").ok


def test_a_dropped_usage_partition_is_on_record(on_postgres):
    from logcenter.engines.postgres import partitions

    old = timezone.now() - timedelta(days=200)
    partitions.ensure_usage_partitions(old, old)
    gone = FACTORIES["usage"].create_batch(3, occurred_at=old)
    kept = FACTORIES["usage"]()
    seal()
    report = retention.retention_purge()
    name = partitions.partition_name(partitions.month_start(old))
    assert name in report.partitions_dropped
    record = RemovalRecord.objects.get(kind="usage", reason__contains=name)
    assert list(removals.decode_ids(record.ids)) == sorted(r.pk for r in gone)
    result = report_of("usage")
    assert result.ok and (result.rows_valid, result.rows_removed) == (1, 3), result.summary()
    assert kept.pk


def test_purge_batches_remove_exactly_what_they_record_across_rows_of_the_same_time():
    """Rows of the same time at a batch's edge go together (a deletion that orders them
    differently still removes exactly the recorded rows)."""
    same = days_ago(50)
    FACTORIES["system"].create_batch(5, occurred_at=same)
    FACTORIES["system"].create_batch(2, occurred_at=same - timedelta(seconds=1))
    seal()
    deleted, done = retention.purge_kind(registry["system"], days_ago(30), batch_size=3,
                                         deadline=float("inf"))
    assert (deleted, done) == (7, True) and not SystemEvent.objects.filter(
        occurred_at__lt=days_ago(30)).exists()
    assert [r.row_count for r in RemovalRecord.objects.order_by("seq")] == [7]
    assert report_of("system").ok


@tamper
def test_removal_records_are_checked_too():
    FACTORIES["system"].create_batch(3, occurred_at=days_ago(40))
    seal()
    retention.retention_purge()
    with superuser() as cursor:
        cursor.execute("UPDATE logcenter_removalrecord SET reason = 'nothing to see'")
    report, problem = first_problem("system")
    assert problem.what == "removal_invalid"
    assert report.problems["missing"] == 3  # an invalid record excuses nothing


# --- the demo, the API, the console and exports ---------------------------------------

def test_the_demo_data_verifies_all_valid_after_sealing():
    import demo

    demo.seed(counts={"usage": 300, "audit": 120, "auth": 120, "system": 60},
              log=lambda *a: None)
    seal()
    out = io.StringIO()
    call_command("verify_logs", stdout=out)
    last = out.getvalue().strip().splitlines()[-1]
    valid, total = last.split(" digests valid, ")[1].split(" rows valid")[0].split("/")
    assert valid == total and int(total.replace(",", "")) >= 600, out.getvalue()


def test_the_public_key_is_published_to_anyone(client):
    response = client.get("/api/v1/integrity/public-key/")
    assert response.status_code == 200
    body = response.json()
    signer = keys.signing_key()
    assert body["key_id"] == signer.key_id and body["algorithm"] == "Ed25519"
    key = Ed25519PublicKey.from_public_bytes(bytes.fromhex(body["public_key"]))
    assert keys.key_id_of(bytes.fromhex(body["public_key"])) == body["key_id"]
    key.verify(bytes.fromhex(signer.sign("ab" * 32)), bytes.fromhex("ab" * 32))
    assert {"key_id": signer.key_id, "public_key": body["public_key"]} in body["trusted_keys"]
    assert client.get("/api/v1/integrity/public-key/?x=1").status_code == 400


def test_auditors_verify_over_the_api_and_members_may_not(api_client, client):
    FACTORIES["auth"].create_batch(3)
    seal()
    response = api_client.get("/api/v1/integrity/verify/?kind=auth")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["ok"] and (body["digests_valid"], body["rows_valid"], body["rows_total"]) == \
        (1, 3, 3)
    assert body["first_problem"] is None and body["head"]["seq"] == 1
    assert IntegrityCheck.objects.get(kind="auth").requested_by == "console-staff"
    assert api_client.get("/api/v1/integrity/verify/?kind=nope").status_code == 400
    assert api_client.get("/api/v1/integrity/verify/?kind=audit&from=x").status_code == 400
    assert api_client.get("/api/v1/integrity/verify/?kind=audit&ordering=1").status_code == 400
    status = api_client.get("/api/v1/integrity/").json()
    assert [s["kind"] for s in status] == [k.slug for k in KINDS]
    auth = next(item for item in status if item["kind"] == "auth")
    assert auth["blocks"] == 1 and auth["last_check"]["ok"] is True
    client.force_login(MemberFactory(username="member-verify"))
    assert client.get("/api/v1/integrity/verify/?kind=usage").status_code == 403
    assert client.get("/api/v1/integrity/").json() == []


def test_the_api_verifies_only_so_many_rows_per_request(api_client, settings):
    FACTORIES["system"].create_batch(3)
    seal()
    settings.LOGCENTER_INTEGRITY = {**settings.LOGCENTER_INTEGRITY, "VERIFY_API_MAX_ROWS": 2}
    response = api_client.get("/api/v1/integrity/verify/?kind=system")
    assert response.status_code == 400 and "verify_logs" in response.json()["kind"][0]


def test_the_integrity_page_shows_each_kind_and_verifies_on_request(client):
    FACTORIES["auth"].create_batch(2)
    seal()
    FACTORIES["auth"]()
    client.force_login(StaffFactory(username="integrity-admin"))
    page = client.get("/integrity/")
    assert page.status_code == 200
    text = page.content.decode()
    assert keys.signing_key().key_id in text and "up to row id" in text
    assert text.count("<tr data-kind=") == len(KINDS)
    assert 'href="/integrity/"' in text  # the menu's link
    response = client.post("/integrity/", {"kind": "auth"})
    assert response.status_code == 302
    check = IntegrityCheck.objects.get(kind="auth")
    assert check.ok and check.requested_by == "integrity-admin"
    assert "1/1 digests valid, 2/2 rows valid" in client.get("/integrity/").content.decode()
    client.force_login(MemberFactory(username="integrity-member"))
    assert client.get("/integrity/").status_code == 403
    assert 'href="/integrity/"' not in client.get("/logs/usage/").content.decode()


@pytest.mark.parametrize("fmt", ["json", "ndjson"])
def test_an_export_with_digests_verifies_offline_with_the_public_key_alone(api_client, fmt):
    FACTORIES["audit"].create_batch(5)
    sealed = AuditEvent.objects.count()  # with the console's own (the staff user's creation)
    seal(block_rows=2)
    FACTORIES["audit"]()  # not sealed yet
    response = api_client.post("/api/v1/exports/", {"kind": "audit", "format": fmt,
                                                    "include_digests": True}, format="json")
    assert response.status_code == 202, response.content
    job = ExportJob.objects.get()
    assert job.include_digests and job.status == "completed", job.error
    from logcenter.exports.jobs import export_dir

    text = (export_dir() / job.file_name).read_text()
    if fmt == "json":
        document = json.loads(text)
        exported, integrity = document["rows"], document["integrity"]
    else:
        lines = [json.loads(line) for line in text.splitlines()]
        exported = [line for line in lines if not any(k.startswith("_") for k in line)]
        integrity = next(line["_integrity"] for line in lines if "_integrity" in line)
        assert "_integrity" in lines[-1]  # rows, then the digests: nothing else
    public_key = api_client.get("/api/v1/integrity/public-key/").json()["public_key"]
    verified = offline_verify(exported, integrity, public_key)
    assert verified == sealed == len(exported) - 1 and integrity["unsealed_rows"] == 1
    assert len(integrity["blocks"]) == (sealed + 1) // 2


def offline_verify(exported_rows, integrity, public_key_hex):
    """What the README's snippet does: only the export and the public key."""
    key = Ed25519PublicKey.from_public_bytes(bytes.fromhex(public_key_hex))
    leaves = set()
    for block in integrity["blocks"]:
        header = {k: v for k, v in block.items() if k not in ("digest", "signature", "manifest")}
        text = json.dumps(header, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        assert hashlib.sha256(text.encode()).hexdigest() == block["digest"]
        key.verify(bytes.fromhex(block["signature"]), bytes.fromhex(block["digest"]))
        manifest = base64.b64decode(block["manifest"])
        assert hashlib.sha256(manifest).hexdigest() == block["manifest_sha256"]
        leaves.update(manifest[i + 8:i + 40] for i in range(0, len(manifest), 40))
    verified = 0
    for row in exported_rows:
        # A customer field that came later (organization, project) is in the leaf only
        # when it holds a value.
        row = {k: v for k, v in row.items()
               if not (k in ("organization_id", "project_id") and v == "")}
        text = json.dumps(row, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        if hashlib.sha256(text.encode()).digest() in leaves:
            verified += 1
    return verified


def test_include_digests_needs_json_or_ndjson(api_client):
    response = api_client.post("/api/v1/exports/", {"kind": "audit", "format": "csv",
                                                    "include_digests": True}, format="json")
    assert response.status_code == 400 and "include_digests" in response.json()


# --- keys -------------------------------------------------------------------------------

def test_keys_come_from_the_setting_and_retired_keys_stay_trusted(settings):
    new, old = Ed25519PrivateKey.generate(), Ed25519PrivateKey.generate()
    old_key = keys.SigningKey(old, "test")
    settings.LOGCENTER_INTEGRITY = {
        **settings.LOGCENTER_INTEGRITY,
        "SIGNING_KEY": new.private_bytes_raw().hex(),
        "TRUSTED_PUBLIC_KEYS": [old_key.public_raw.hex()]}
    signer = keys.signing_key()
    assert signer.source == "setting" and signer.public_raw == keys.SigningKey(new, "t").public_raw
    assert set(keys.trusted_keys()) == {signer.key_id, old_key.key_id}
    assert set(keys.trusted_keys([old_key.public_raw.hex()])) == {old_key.key_id}
    FACTORIES["audit"]()
    seal()
    assert report_of("audit").ok
    # Rotated: the old key signs no more, and its blocks verify while it is listed.
    settings.LOGCENTER_INTEGRITY = {**settings.LOGCENTER_INTEGRITY,
                                    "SIGNING_KEY": Ed25519PrivateKey.generate()
                                    .private_bytes_raw().hex(),
                                    "TRUSTED_PUBLIC_KEYS": [signer.public_raw.hex()]}
    FACTORIES["audit"]()
    seal()
    report = report_of("audit")
    assert report.ok and report.blocks_valid == 2
    settings.LOGCENTER_INTEGRITY = {**settings.LOGCENTER_INTEGRITY, "TRUSTED_PUBLIC_KEYS": []}
    assert report_of("audit").first.what == "badly_signed"


def test_a_row_without_a_customer_keeps_the_leaf_it_had_before_the_customer_fields():
    """Rows sealed before organization_id and project_id existed hold "" there: their
    leaves leave the two out, so old blocks still verify; a value is covered like any
    other field."""
    row = FACTORIES["audit"]()
    form = canonical.row_form(type(row))
    values = type(row).objects.filter(pk=row.pk).values_list(*form.attnames).get()
    content = form.content(values)
    assert "organization_id" not in content and "project_id" not in content
    before = {name: value for name, value in zip(form.names, values[1:])
              if name not in ("organization_id", "project_id")}
    assert set(before) == set(content)
    customer = FACTORIES["audit"](organization_id="org_a", project_id="proj_a")
    values = type(row).objects.filter(pk=customer.pk).values_list(*form.attnames).get()
    assert form.content(values)["organization_id"] == "org_a"
    assert form.leaf(values) != form.leaf(values[:1] + tuple(
        "org_b" if name == "organization_id" else value
        for name, value in zip(form.names, values[1:])))
