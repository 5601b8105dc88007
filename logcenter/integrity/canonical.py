"""The canonical form of a log row, and the bytes the digests are made of.

A row's **leaf** is the SHA-256 of its canonical form: a JSON object of every concrete
field of the kind's model except `id`, keys sorted, no spaces, UTF-8:

    json.dumps(values, sort_keys=True, separators=(",", ":"), ensure_ascii=False)

with each value written as

    time         "2025-01-31T23:59:59.123456Z" (UTC, always six digits)
    decimal      fixed-point text with the field's decimal places ("0.00012000")
    UUID         lowercase with hyphens
    JSON field   the value itself (nested keys sorted too; numbers as Python's json reads
                 and writes them)
    others       as stored: text, integers, true/false, null

A field added to the envelope after rows were first sealed (ADDED_FIELDS: the
organization and project) is left out while it is empty, so the leaves of the rows sealed
before it existed are unchanged, and a row that names a customer is covered like any other
field.

This is also how the JSON and NDJSON exports write a row, so an exported row that is not
masked hashes to its leaf as it stands. The fields are read from the model, so a column
added to a kind is covered without touching this module.

The `id` (the insertion order) is not in the leaf: it is in the block's **manifest**, a
list of (id as 8 bytes big-endian, leaf) in id order, whose SHA-256 the block header
holds. A row given another row's id therefore fails (and is named "reordered"), and the
manifest still proves what a purged row held.
"""

import base64
import hashlib
import json
import struct
from datetime import date, datetime, time, timedelta
from datetime import timezone as dt_timezone
from functools import lru_cache

from django.core.exceptions import ImproperlyConfigured
from django.db import models

VERSION = 1  # the "v" of every header: a change of this module's rules is a new version
GENESIS = "0" * 64  # the previous digest of a kind's first block (and first removal)
ENTRY = struct.Struct(">Q32s")  # a manifest entry: id, leaf
ENTRY_SIZE = ENTRY.size
# Fields added to every kind after the first blocks were sealed: written into the canonical
# form only when not empty (the rows sealed before them hold "").
ADDED_FIELDS = ("organization_id", "project_id")


# json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False), with json's
# C encoder made once rather than per call (what json.dumps does inside).
_ENCODER = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False)
_C_ENCODE = json.encoder.c_make_encoder and json.encoder.c_make_encoder(
    None, _ENCODER.default, json.encoder.c_encode_basestring, None, ":", ",", True, False,
    True)


def canonical_json(value):
    if _C_ENCODE is None:
        return _ENCODER.encode(value)
    return "".join(_C_ENCODE(value, 0))


def encode(value):
    """The canonical JSON's UTF-8 bytes (an unpaired surrogate, which no database here
    stores, is written as its own bytes rather than failing)."""
    return canonical_json(value).encode("utf-8", "surrogatepass")


def time_text(value):
    """A datetime as UTC ISO 8601 with microseconds and Z."""
    if value.utcoffset():
        value = value.astimezone(dt_timezone.utc)
    return value.replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"


def _optional(convert):
    return lambda value: None if value is None else convert(value)


def _decimal(places):
    return _optional(lambda value: f"{value:.{places}f}")


# Field classes whose stored value is already its canonical JSON value.
_AS_STORED = (models.CharField, models.TextField, models.IntegerField, models.BooleanField,
              models.FloatField, models.GenericIPAddressField, models.JSONField,
              models.AutoField, models.BigAutoField, models.SmallAutoField)


def converter(field):
    """The function turning a value the ORM read for `field` into its canonical JSON
    value, or None when the value is its own canonical form. ImproperlyConfigured for a
    field type without a documented form (add one here, and a test)."""
    if isinstance(field, models.DateTimeField):
        return _optional(time_text)
    if isinstance(field, (models.DateField, models.TimeField)):
        return _optional(lambda value: value.isoformat())
    if isinstance(field, models.DurationField):
        return _optional(lambda value: value // timedelta(microseconds=1))
    if isinstance(field, models.DecimalField):
        return _decimal(field.decimal_places)
    if isinstance(field, models.UUIDField):
        return _optional(str)
    if isinstance(field, models.BinaryField):
        return _optional(lambda value: base64.b64encode(bytes(value)).decode())
    if isinstance(field, _AS_STORED):
        return None
    raise ImproperlyConfigured(
        f"{field.model.__name__}.{field.name}: no canonical form for {type(field).__name__} "
        "(logcenter.integrity.canonical.converter)")


class RowForm:
    """How one model's rows are read and hashed: `attnames` in the order of the query
    (the primary key first), and `leaf(values)` of such a tuple."""

    def __init__(self, model):
        fields = list(model._meta.concrete_fields)
        pk = model._meta.pk
        rest = [f for f in fields if f is not pk]
        self.model = model
        self.attnames = [pk.attname, *(f.attname for f in rest)]
        self.names = [f.attname for f in rest]
        self.converters = [(i, convert) for i, f in enumerate(rest, start=1)
                           if (convert := converter(f)) is not None]
        self.time_index = self.attnames.index("occurred_at") if any(
            f.attname == "occurred_at" for f in fields) else None

    def content(self, values):
        """{name: canonical value} of a row tuple (as read in `attnames` order)."""
        values = list(values)
        for i, convert in self.converters:
            values[i] = convert(values[i])
        return without_empty_added(dict(zip(self.names, values[1:])))

    def leaf(self, values):
        return hashlib.sha256(encode(self.content(values))).digest()


@lru_cache(maxsize=None)
def row_form(model):
    return RowForm(model)


def orm_leaves(model, after, upto=None, *, limit=None, with_time=False, chunk_rows=2000):
    """(id, leaf) or (id, leaf, occurred_at) of `model`'s rows with after < id <= upto, in
    id order, read through the ORM (any database; the definition the engines' faster
    readers are tested against). Call inside a transaction."""
    form = row_form(model)
    rows = model.objects.filter(pk__gt=after)
    if upto is not None:
        rows = rows.filter(pk__lte=upto)
    rows = rows.order_by("pk").values_list(*form.attnames)
    if limit is not None:
        rows = rows[:limit]
    leaf, time_index = form.leaf, form.time_index
    for values in rows.iterator(chunk_size=chunk_rows):
        if with_time:
            yield values[0], leaf(values), (
                values[time_index] if time_index is not None else None)
        else:
            yield values[0], leaf(values)


def without_empty_added(content):
    """`content` without the ADDED_FIELDS that are empty (the canonical form's rule)."""
    for name in ADDED_FIELDS:
        if content.get(name, None) == "":
            del content[name]
    return content


def leaf_of_exported(row):
    """The leaf of a row as a JSON or NDJSON export writes it (every field, unmasked)."""
    return hashlib.sha256(encode(without_empty_added(dict(row)))).digest()


def entries(manifest):
    """(id, leaf) of each entry of a manifest's bytes."""
    return ENTRY.iter_unpack(manifest)


# --- headers ------------------------------------------------------------------------

def digest_of(header):
    """The hex SHA-256 of a header's canonical JSON: what is signed and chained."""
    return hashlib.sha256(canonical_json(header).encode()).hexdigest()


def block_header(*, kind, seq, first_id, last_id, row_count, first_occurred_at,
                 last_occurred_at, manifest_sha256, prev_digest, key_id, created_at):
    return {"v": VERSION, "type": "block", "kind": kind, "seq": seq, "first_id": first_id,
            "last_id": last_id, "row_count": row_count,
            "first_occurred_at": _time_or_none(first_occurred_at),
            "last_occurred_at": _time_or_none(last_occurred_at),
            "manifest_sha256": manifest_sha256, "prev_digest": prev_digest, "key_id": key_id,
            "created_at": time_text(created_at)}


def removal_header(*, kind, seq, reason, before, row_count, first_id, last_id, ids_sha256,
                   first_block_seq, last_block_seq, last_digest, prev_digest, key_id,
                   created_at):
    return {"v": VERSION, "type": "removal", "kind": kind, "seq": seq, "reason": reason,
            "before": _time_or_none(before), "row_count": row_count, "first_id": first_id,
            "last_id": last_id, "ids_sha256": ids_sha256, "first_block_seq": first_block_seq,
            "last_block_seq": last_block_seq, "last_digest": last_digest,
            "prev_digest": prev_digest, "key_id": key_id, "created_at": time_text(created_at)}


def _time_or_none(value):
    if value is None:
        return None
    if isinstance(value, datetime):
        return time_text(value)
    if isinstance(value, (date, time)):
        return value.isoformat()
    return value
