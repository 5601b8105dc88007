"""Ingestion: validate events from other services and store them fast and idempotently.

Validation is derived from the models (types, lengths, choices, required fields), so a
field added to a kind is validated without more code. Storing uses PostgreSQL COPY into
a temporary staging table and one INSERT … ON CONFLICT DO NOTHING per kind;
other databases use bulk_create. Re-sending a batch stores nothing twice: the sender's
event_id is the idempotency key.
"""

import ipaddress
import json
import re
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from datetime import timezone as dt_timezone
from decimal import Decimal, InvalidOperation

from django.conf import settings
from django.db import connection, models, transaction
from django.utils import timezone

from . import rollups
from .models import FUTURE_TOLERANCE, UsageRecord
from .registry import registry

METADATA_KEY_RE = re.compile(r"^[A-Za-z0-9_]{1,64}$")
METADATA_MAX_KEYS = 50
METADATA_MAX_BYTES = 8 * 1024
JSON_MAX_BYTES = 64 * 1024
SERVER_FIELDS = {"id", "ingested_at"}


class FieldError(Exception):
    def __init__(self, field, reason):
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason


@dataclass
class IngestResult:
    accepted: int = 0
    duplicates: int = 0
    rejected: list = field(default_factory=list)  # [{"index", "field", "reason"}]
    event_ids: list = field(default_factory=list)  # per input item; None when rejected

    def as_dict(self):
        return {"accepted": self.accepted, "duplicates": self.duplicates,
                "rejected": len(self.rejected), "errors": self.rejected,
                "event_ids": self.event_ids}


# --- validation ---------------------------------------------------------------------

def _parse_time(value, name, now):
    if isinstance(value, bool):
        raise FieldError(name, "must be an ISO 8601 time or Unix seconds")
    if isinstance(value, (int, float)):
        try:
            parsed = datetime.fromtimestamp(value, tz=dt_timezone.utc)
        except (OverflowError, OSError, ValueError):
            raise FieldError(name, "is not a valid Unix time") from None
    elif isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value.strip())
        except ValueError:
            raise FieldError(name, "must be an ISO 8601 time or Unix seconds") from None
        if parsed.tzinfo is None:
            raise FieldError(name, "needs a timezone offset (e.g. Z or +08:00)")
    else:
        raise FieldError(name, "must be an ISO 8601 time or Unix seconds")
    if parsed > now + FUTURE_TOLERANCE:
        raise FieldError(name, "is more than 5 minutes in the future")
    return parsed


def validate_metadata(value):
    if not isinstance(value, dict):
        raise FieldError("metadata", "must be an object")
    if len(value) > METADATA_MAX_KEYS:
        raise FieldError("metadata", f"has more than {METADATA_MAX_KEYS} keys")
    for key, item in value.items():
        if not METADATA_KEY_RE.match(key):
            raise FieldError(f"metadata.{key}"[:80],
                             "keys are 1-64 letters, digits or underscores")
        if item is not None and not isinstance(item, (str, int, float, bool)):
            raise FieldError(f"metadata.{key}", "values must be a string, number or boolean")
    if len(json.dumps(value, separators=(",", ":")).encode()) > METADATA_MAX_BYTES:
        raise FieldError("metadata", f"is larger than {METADATA_MAX_BYTES // 1024} KB")
    return value


def _field_validator(model_field):
    """A function (value, now) -> clean value for one model field."""
    name = model_field.name
    if name == "metadata":
        return lambda value, now: validate_metadata(value)
    if isinstance(model_field, models.DateTimeField):
        return lambda value, now: _parse_time(value, name, now)
    if isinstance(model_field, models.UUIDField):
        def check_uuid(value, now):
            try:
                return uuid.UUID(str(value))
            except ValueError:
                raise FieldError(name, "must be a UUID") from None
        return check_uuid
    if isinstance(model_field, models.GenericIPAddressField):
        def check_ip(value, now):
            if value in (None, ""):
                return None
            try:
                return str(ipaddress.ip_address(str(value)))
            except ValueError:
                raise FieldError(name, "must be an IPv4 or IPv6 address") from None
        return check_ip
    if isinstance(model_field, models.BooleanField):
        def check_bool(value, now):
            if not isinstance(value, bool):
                raise FieldError(name, "must be true or false")
            return value
        return check_bool
    if isinstance(model_field, models.DecimalField):
        digits, places = model_field.max_digits, model_field.decimal_places

        def check_decimal(value, now):
            if isinstance(value, bool) or not isinstance(value, (str, int, float)):
                raise FieldError(name, "must be a decimal number (a string keeps precision)")
            try:
                number = Decimal(str(value))
            except InvalidOperation:
                raise FieldError(name, "must be a decimal number") from None
            if not number.is_finite() or number < 0:
                raise FieldError(name, "must be a finite, non-negative number")
            if abs(number) >= Decimal(10) ** (digits - places):
                raise FieldError(name, f"is too large (at most {digits - places} digits "
                                       "before the point)")
            return number.quantize(Decimal(1).scaleb(-places))
        return check_decimal
    if isinstance(model_field, (models.IntegerField, models.BigIntegerField)):
        low = 0 if isinstance(model_field, models.PositiveIntegerField) else -(2 ** 63)
        high = 2 ** 31 - 1 if not isinstance(model_field, models.BigIntegerField) else 2 ** 63 - 1

        def check_int(value, now):
            if value is None and model_field.null:
                return None
            if isinstance(value, bool) or not isinstance(value, int):
                raise FieldError(name, "must be a whole number")
            if not low <= value <= high:
                raise FieldError(name, f"must be between {low} and {high}")
            return value
        return check_int
    if isinstance(model_field, models.JSONField):
        def check_json(value, now):
            if not isinstance(value, (dict, list)):
                raise FieldError(name, "must be an object or a list")
            if len(json.dumps(value, default=str).encode()) > JSON_MAX_BYTES:
                raise FieldError(name, f"is larger than {JSON_MAX_BYTES // 1024} KB")
            return value
        return check_json
    if isinstance(model_field, (models.CharField, models.TextField)):
        max_length = model_field.max_length
        choices = {str(c[0]) for c in model_field.choices} if model_field.choices else None

        def check_text(value, now):
            if not isinstance(value, str):
                raise FieldError(name, "must be a string")
            if "\x00" in value:
                raise FieldError(name, "must not contain NUL characters")
            if max_length and len(value) > max_length:
                raise FieldError(name, f"is longer than {max_length} characters")
            if choices is not None and value not in choices:
                raise FieldError(name, f"must be one of: {', '.join(sorted(choices))}")
            return value
        return check_text
    raise TypeError(f"no ingestion rule for {model_field!r}")


@dataclass(frozen=True)
class KindSchema:
    kind: object
    validators: dict
    required: frozenset
    defaults: dict

    @classmethod
    def for_kind(cls, kind):
        validators, required, defaults = {}, set(), {}
        for model_field in kind.model._meta.concrete_fields:
            if model_field.name in SERVER_FIELDS:
                continue
            validators[model_field.name] = _field_validator(model_field)
            if model_field.has_default():
                defaults[model_field.name] = model_field.get_default
            elif model_field.null:
                defaults[model_field.name] = lambda: None
            else:
                required.add(model_field.name)
        return cls(kind, validators, frozenset(required), defaults)

    def clean(self, item, now):
        """A dict of model field values, or FieldError for the first bad field."""
        unknown = set(item) - set(self.validators) - {"kind"}
        if unknown:
            raise FieldError(sorted(unknown)[0], "is not a field of this kind")
        missing = self.required - set(item)
        if missing:
            raise FieldError(sorted(missing)[0], "is required")
        values = {}
        for name, check in self.validators.items():
            if name in item and item[name] is not None:
                values[name] = check(item[name], now)
            elif name in self.required:
                raise FieldError(name, "is required")
            else:
                values[name] = self.defaults[name]()
        if "total_tokens" in self.validators and "total_tokens" not in item:
            values["total_tokens"] = values["prompt_tokens"] + values["completion_tokens"]
        return values


_schemas = {}


def schema_for(kind):
    if kind.slug not in _schemas:
        _schemas[kind.slug] = KindSchema.for_kind(kind)
    return _schemas[kind.slug]


# --- storing ------------------------------------------------------------------------

def ingest(items, *, kind_slug=None):
    """Validate and store a batch; valid items are stored even when others are rejected.

    Each item names its kind (`kind`: audit, usage, auth, system) unless `kind_slug`
    gives one kind for the whole batch (the service functions use that).
    """
    now = timezone.now()
    result = IngestResult(event_ids=[None] * len(items))
    by_kind = {}
    for index, item in enumerate(items):
        try:
            if not isinstance(item, dict):
                raise FieldError("", "each event must be a JSON object")
            slug = kind_slug or item.get("kind")
            kind = registry.get(slug) if isinstance(slug, str) else None
            if kind is None:
                raise FieldError("kind", "must be one of: audit, usage, auth, system")
            values = schema_for(kind).clean(item, now)
        except FieldError as error:
            result.rejected.append({"index": index, "field": error.field, "reason": error.reason})
            continue
        values["ingested_at"] = now
        result.event_ids[index] = str(values["event_id"])
        by_kind.setdefault(kind.slug, []).append(values)

    with transaction.atomic():
        for slug, rows in by_kind.items():
            unique = list({row["event_id"]: row for row in rows}.values())
            inserted = _store(registry[slug], unique)
            result.accepted += inserted
            result.duplicates += len(rows) - inserted
    if "usage" in by_kind and connection.vendor == "postgresql":
        rollups.rollup_fold_soon()
    return result


def _store(kind, rows):
    """Insert rows whose event_id is new; returns how many were inserted."""
    if not rows:
        return 0
    if connection.vendor == "postgresql":
        return _store_copy(kind, rows)
    model = kind.model
    existing = set(model.objects.filter(event_id__in=[r["event_id"] for r in rows])
                   .values_list("event_id", flat=True))
    fresh = [model(**row) for row in rows if row["event_id"] not in existing]
    model.objects.bulk_create(fresh, batch_size=500, ignore_conflicts=True)
    if model is UsageRecord:
        rollups.rollup_add(fresh)
    return len(fresh)


def _store_copy(kind, rows):
    from psycopg.types.json import Jsonb

    model = kind.model
    table = model._meta.db_table
    stage = f"lc_stage_{kind.slug}"
    fields = [f for f in model._meta.concrete_fields if f.name != "id"]
    columns = [f.column for f in fields]
    json_columns = {f.column for f in fields if isinstance(f, models.JSONField)}
    column_list = ", ".join(f'"{c}"' for c in columns)
    with connection.cursor() as cursor:
        # A session-local staging table of the same columns (no constraints, no
        # indexes), emptied at commit and reused by the connection's later batches.
        cursor.execute(
            f'CREATE TEMP TABLE IF NOT EXISTS "{stage}" ON COMMIT DELETE ROWS AS '
            f'SELECT {column_list} FROM "{table}" WITH NO DATA'
        )
        raw = cursor.cursor
        with raw.copy(f'COPY "{stage}" ({column_list}) FROM STDIN') as copy:
            for row in rows:
                copy.write_row([
                    Jsonb(row[f.name]) if f.column in json_columns else row[f.name]
                    for f in fields
                ])
        # Any unique violation is a duplicate: event_id (per occurred_at on the
        # partitioned usage table, where unique indexes must hold the partition key).
        insert = (f'INSERT INTO "{table}" ({column_list}) SELECT {column_list} FROM "{stage}" '
                  f"ON CONFLICT DO NOTHING")
        if model is UsageRecord:
            # The rollup inbox takes the new rows' sums in the same statement.
            cursor.execute(rollups.ingest_with_rollups_sql(insert))
            inserted = cursor.fetchone()[0]
        else:
            cursor.execute(insert)
            inserted = cursor.rowcount
        cursor.execute(f'DELETE FROM "{stage}"')  # several kinds' batches share a transaction
    return inserted


def reject_alert_threshold():
    return settings.LOGCENTER["INGEST_REJECT_ALERT"]
