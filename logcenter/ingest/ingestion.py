"""Ingestion: validate events from other services and store them fast and idempotently.

Validation is derived from the models (types, lengths, choices, required fields), so a
field added to a kind is validated without more code; every value is bounded so that
nothing stored can fail the database or a later read (finite numbers, no NUL or unpaired
surrogates, capped text and JSON, storable addresses), and an event is rejected with every
bad field named. Storing is the kind's engine's (logcenter.engines: COPY into a staging
table on PostgreSQL, bulk_create elsewhere), in one transaction for the batch. Re-sending a
batch stores nothing twice: the sender's event_id is the idempotency key, and for usage the
ledger (UsageLedger) holds it whatever occurred_at it comes with.
"""

import ipaddress
import itertools
import json
import math
import operator
import re
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from datetime import timezone as dt_timezone
from decimal import Decimal

from django.conf import settings
from django.db import models, transaction
from django.utils import timezone, translation
from django.utils.text import format_lazy
from django.utils.translation import gettext_lazy as _

from logcenter.analytics import rollups
from logcenter.engines import engine_for
from logcenter.models import CONSOLE, FUTURE_TOLERANCE, METADATA_KEY_RE, UsageRecord
from logcenter.core.registry import registry
from logcenter.core.text import UNSTORABLE_RE, unstorable

METADATA_MAX_KEYS = 50
METADATA_MAX_BYTES = 8 * 1024
JSON_MAX_BYTES = 64 * 1024
JSON_MAX_DEPTH = 32  # containers inside one JSON field
BODY_MAX_DEPTH = 64  # containers in a request body (the batch, an event, its JSON fields)
TEXT_MAX_CHARS = 64 * 1024  # text fields without a max_length (messages, error payloads)
TIME_MIN = datetime(2000, 1, 1, tzinfo=dt_timezone.utc)
# Per-event caps on the summed usage columns: the sums of up to SUM_SAFE_EVENTS events (one
# rollup row, one stats answer) then fit the rollups' columns, so no fold or stats query can
# overflow. Whole numbers: (2**63 - 1) // 2**32 = 2**31 - 1.
SUM_SAFE_EVENTS = 2 ** 32
# A decimal's text: at most 40 digits each side of the point and a 4-digit exponent, checked
# before any conversion (1e-99999999 never reaches Decimal).
DECIMAL_RE = re.compile(r"[+-]?(?:\d{1,40}(?:\.\d{0,40})?|\.\d{1,40})(?:[eE][+-]?\d{1,4})?")
DECIMAL_TEXT_MAX = 96
ATOM_TEXT_MAX = 64  # times, UUIDs and IPs as text
# Set by the server, never by the sender: a sender cannot claim another's provenance.
SERVER_FIELDS = {"id", "ingested_at", "ingested_by", "ingested_by_name"}


@dataclass(frozen=True)
class Source:
    """Who writes a batch: the ingest key (its public id and name, and the kinds it may
    write; None = any) or the console. Stamped on every row as its provenance. A
    customer's key (one that belongs to a project) names its organization and project:
    its rows belong to them (customer_fields)."""

    ingested_by: str
    name: str
    kinds: frozenset | None = None
    organization_id: str = ""
    project_id: str = ""

    @classmethod
    def for_key(cls, key):
        project = key.project
        if project is None:  # a platform key
            return cls(key.prefix, key.name, frozenset(key.kinds))
        return cls(key.prefix, key.name, frozenset(key.kinds),
                   project.organization.public_id, project.public_id)


CONSOLE_SOURCE = Source(CONSOLE, "Logcenter console")


class FieldError(Exception):
    """A bad field: `field` is its name (English, as sent), `reason` a lazy translation,
    rendered in the reader's language by the API's response and in English by str() (logs)
    and by stored_errors (what a system event keeps)."""

    def __init__(self, field, reason):
        super().__init__(field, reason)
        self.field = field
        self.reason = reason

    def __str__(self):
        with translation.override("en"):
            return f"{self.field}: {self.reason}"


class InvalidEvent(FieldError):
    """Every bad field of one event (`errors`: [FieldError]); reads as the first of them."""

    def __init__(self, errors):
        super().__init__(errors[0].field, errors[0].reason)
        self.errors = errors


@dataclass
class IngestResult:
    accepted: int = 0
    duplicates: int = 0
    rejected: int = 0  # events
    errors: list = field(default_factory=list)  # [{"index", "field", "reason"}], one per bad field
    event_ids: list = field(default_factory=list)  # per input item; None when rejected

    def as_dict(self):
        """The API's answer: the reasons in the active language (the request's)."""
        return {"accepted": self.accepted, "duplicates": self.duplicates,
                "rejected": self.rejected,
                "errors": [{**error, "reason": str(error["reason"])} for error in self.errors],
                "event_ids": self.event_ids}

    def stored_errors(self, limit=None):
        """The errors with their reasons in English: what is stored (a system event)."""
        with translation.override("en"):
            return [{**error, "reason": str(error["reason"])} for error in self.errors[:limit]]


# --- reading a body -----------------------------------------------------------------

class BadNumber:
    """A JSON number no field can hold (NaN, Infinity, 1e999, an integer of more than 40
    digits), kept as a marker so that validation names the field it was given for."""

    __slots__ = ("text",)

    def __init__(self, text):
        self.text = text

    def __repr__(self):
        return f"BadNumber({self.text[:20]!r})"


class JsonFloat(float):
    """A JSON number with a fraction or exponent, remembering how it was written: a decimal
    field validates (and keeps the precision of) the text, not the rounded float."""

    __slots__ = ("text",)

    def __new__(cls, text):
        number = super().__new__(cls, text)
        number.text = text
        return number


def _parse_int(text):
    return int(text) if len(text) <= 41 else BadNumber(text)


def _parse_float(text):
    number = JsonFloat(text)
    return number if math.isfinite(number) else BadNumber(text)


_ESCAPE_RE = re.compile(r"(?s)\\.")
_STRING_RE = re.compile(r'"[^"]*+"')
_NOT_BRACKET_RE = re.compile(r"[^\[\]{}]++")
_BRACKET_STEPS = bytes.maketrans(b"[{]}", b"\x02\x02\x00\x00")  # depth + 1 per bracket
_DEPTH_CHUNK = 1 << 16


def nests_deeper_than(text, limit):
    """Whether JSON text nests arrays and objects more than `limit` deep, found without
    parsing it (so without recursion, however deep): escapes and then strings are cut out,
    and the depth after each bracket left is a running sum, in C (about 0.6 s for 10 MB of
    brackets, 20 ms for a batch of 5,000 events); stops at the first chunk that is too deep."""
    if text.count("[") + text.count("{") <= limit:
        return False
    skeleton = _NOT_BRACKET_RE.sub("", _STRING_RE.sub("", _ESCAPE_RE.sub("", text)))
    steps = skeleton.encode("ascii").translate(_BRACKET_STEPS)
    depth = 0
    for start in range(0, len(steps), _DEPTH_CHUNK):
        # The depth after the i-th bracket: the sum of steps up to it, less i.
        depths = list(map(operator.sub,
                          itertools.accumulate(steps[start:start + _DEPTH_CHUNK],
                                               initial=depth + start),
                          itertools.count(start)))
        if max(depths) > limit:
            return True
        depth = depths[-1]
    return False


def loads(text):
    """json.loads for bodies from outside: ValueError for text nesting deeper than
    BODY_MAX_DEPTH (checked first, without recursion); NaN, Infinity, overflowing and
    over-long numbers become BadNumber markers, reported on their field by validation."""
    if nests_deeper_than(text, BODY_MAX_DEPTH):
        raise ValueError(f"nested more than {BODY_MAX_DEPTH} levels deep")
    return json.loads(text, parse_int=_parse_int, parse_float=_parse_float,
                      parse_constant=BadNumber)


# --- validation ---------------------------------------------------------------------

def label(text, limit=80):
    """User-given text (an unknown field's name, a metadata key) safe to echo in an error
    and to store in a warning's details: cut to `limit`, NUL, controls and unpaired
    surrogates written as \\uXXXX escapes."""
    return re.sub("[\x00-\x1f\x7f\ud800-\udfff]", lambda m: f"\\u{ord(m.group()):04x}",
                  str(text)[:limit])


def _bad_char_reason(value):
    found = unstorable(value)
    if found is None:
        return None
    if found == "nul":
        return _("must not contain NUL characters")
    return _("must not contain unpaired surrogates (\\ud800-\\udfff): not valid Unicode")


def _check_text(value, name, max_length):
    if not isinstance(value, str):
        raise FieldError(name, _("must be a string"))
    if len(value) > max_length:
        raise FieldError(name, format_lazy(_("is longer than {max_length} characters"),
                                           max_length=max_length))
    reason = _bad_char_reason(value)
    if reason:
        raise FieldError(name, reason)
    return value


def _parse_time(value, name, now):
    latest = now + FUTURE_TOLERANCE
    if isinstance(value, (bool, BadNumber)):
        raise FieldError(name, _("must be an ISO 8601 time or Unix seconds"))
    if isinstance(value, (int, float)):
        # Bounds first, on the number: no date arithmetic on 1e300, NaN or -1.
        if not (math.isfinite(value) and TIME_MIN.timestamp() <= value <= latest.timestamp()):
            raise FieldError(name, format_lazy(
                _("must be a Unix time between {start} and 5 minutes from now"),
                start=f"{TIME_MIN:%Y-%m-%d}"))
        return datetime.fromtimestamp(value, tz=dt_timezone.utc)
    if isinstance(value, datetime):
        parsed = value
    elif isinstance(value, str):
        if len(value) > ATOM_TEXT_MAX:
            raise FieldError(name, _("must be an ISO 8601 time or Unix seconds"))
        try:
            parsed = datetime.fromisoformat(value.strip())
        except ValueError:
            raise FieldError(name, _("must be an ISO 8601 time or Unix seconds")) from None
    else:
        raise FieldError(name, _("must be an ISO 8601 time or Unix seconds"))
    if parsed.tzinfo is None or parsed.utcoffset() is None:
        raise FieldError(name, _("needs a timezone offset (e.g. Z or +08:00)"))
    # Aware comparisons never overflow, even for year 1 or 9999 with any offset.
    if parsed > latest:
        raise FieldError(name, _("is more than 5 minutes in the future"))
    if parsed < TIME_MIN:
        raise FieldError(name, format_lazy(_("is before {start}"), start=f"{TIME_MIN:%Y-%m-%d}"))
    return parsed.astimezone(dt_timezone.utc)


def _metadata_value_error(item):
    if isinstance(item, bool):
        return None
    if isinstance(item, str):
        return _bad_char_reason(item)
    if isinstance(item, int):
        return None
    if isinstance(item, float):
        return None if math.isfinite(item) else _("numbers must be finite")
    if isinstance(item, BadNumber):
        return _("numbers must be finite, with at most 40 digits")
    if item is None:
        return _("values must be a string, number or boolean (null is not; leave the key out)")
    return _("values must be a string, number or boolean")


def validate_metadata(value):
    """Metadata is checked whole: a FieldError per bad key (InvalidEvent when several)."""
    if not isinstance(value, dict):
        raise FieldError("metadata", _("must be an object"))
    if len(value) > METADATA_MAX_KEYS:
        raise FieldError("metadata", format_lazy(_("has more than {max_keys} keys"),
                                                  max_keys=METADATA_MAX_KEYS))
    errors = []
    for key, item in value.items():
        if not (isinstance(key, str) and METADATA_KEY_RE.fullmatch(key)):
            errors.append(FieldError(label(f"metadata.{key}"),
                                     _("keys are 1-64 letters, digits or underscores")))
            continue
        reason = _metadata_value_error(item)
        if reason:
            errors.append(FieldError(f"metadata.{key}", reason))
    if not errors and (len(json.dumps(value, separators=(",", ":"), ensure_ascii=False)
                           .encode()) > METADATA_MAX_BYTES):
        errors.append(FieldError("metadata", format_lazy(
            _("is larger than {size} KB"), size=METADATA_MAX_BYTES // 1024)))
    if len(errors) == 1:
        raise errors[0]
    if errors:
        raise InvalidEvent(errors)
    return value


def _json_error(value):
    """Why `value` cannot be a stored JSON field (None when it can): finite numbers, text
    without NUL or unpaired surrogates (keys too), at most JSON_MAX_DEPTH containers deep.
    Walked with a stack, not recursion."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, (dict, list)):
            if depth > JSON_MAX_DEPTH:
                return format_lazy(_("nests more than {depth} levels deep"), depth=JSON_MAX_DEPTH)
            if isinstance(item, dict):
                for key in item:
                    if not isinstance(key, str):
                        return _("keys must be strings")
                    reason = _bad_char_reason(key)
                    if reason:
                        return format_lazy(_("keys {reason}"), reason=reason)
                children = item.values()
            else:
                children = item
            stack.extend((child, depth + 1) for child in children)
        elif isinstance(item, str):
            reason = _bad_char_reason(item)
            if reason:
                return format_lazy(_("text {reason}"), reason=reason)
        elif isinstance(item, float):
            if not math.isfinite(item):
                return _("numbers must be finite")
        elif isinstance(item, BadNumber):
            return _("numbers must be finite, with at most 40 digits")
        elif not (item is None or isinstance(item, (bool, int))):
            return _("must hold only JSON values")
    return None


def _sum_cap(model_field):
    """(low, high) for a usage column summed into the rollups, or None: the per-event range
    that keeps SUM_SAFE_EVENTS events' sum inside the rollup column."""
    if model_field.model is not UsageRecord:
        return None
    column = next((c for c, s in rollups.SUM_SOURCES.items() if s == model_field.name), None)
    if column is None:
        return None
    target = rollups.USAGE_ROLLUPS[-1]._meta.get_field(column)
    if isinstance(target, models.DecimalField):
        whole = target.max_digits - target.decimal_places
        # The largest power of ten under 10**whole / SUM_SAFE_EVENTS.
        high = Decimal(10) ** (whole - len(str(SUM_SAFE_EVENTS)))
        return -high, high
    return -(2 ** 63) // SUM_SAFE_EVENTS, (2 ** 63 - 1) // SUM_SAFE_EVENTS


def _field_validator(model_field):
    """A function (value, now) -> clean value for one model field."""
    name = model_field.name
    if name == "metadata":
        return lambda value, now: validate_metadata(value)
    if isinstance(model_field, models.DateTimeField):
        return lambda value, now: _parse_time(value, name, now)
    if isinstance(model_field, models.UUIDField):
        def check_uuid(value, now):
            if isinstance(value, uuid.UUID):
                return value
            if not isinstance(value, str) or len(value) > ATOM_TEXT_MAX:
                raise FieldError(name, _("must be a UUID"))
            try:
                return uuid.UUID(value)
            except ValueError:
                raise FieldError(name, _("must be a UUID")) from None
        return check_uuid
    if isinstance(model_field, models.GenericIPAddressField):
        def check_ip(value, now):
            if value == "":
                return None
            if not isinstance(value, str) or len(value) > ATOM_TEXT_MAX:
                raise FieldError(name, _("must be an IPv4 or IPv6 address"))
            if "%" in value:
                # PostgreSQL's inet has no zone: refused rather than silently cut.
                raise FieldError(name, _("must be an address without a zone (fe80::1, not "
                                         "fe80::1%eth0)"))
            try:
                return str(ipaddress.ip_address(value))
            except ValueError:
                raise FieldError(name, _("must be an IPv4 or IPv6 address")) from None
        return check_ip
    if isinstance(model_field, models.BooleanField):
        def check_bool(value, now):
            if not isinstance(value, bool):
                raise FieldError(name, _("must be true or false"))
            return value
        return check_bool
    if isinstance(model_field, models.DecimalField):
        digits, places = model_field.max_digits, model_field.decimal_places
        high = Decimal(10) ** (digits - places)
        cap = _sum_cap(model_field)
        if cap is not None:
            high = min(high, cap[1])
        step = Decimal(1).scaleb(-places)

        def check_decimal(value, now):
            if isinstance(value, BadNumber):
                raise FieldError(name, _("must be a finite number"))
            if isinstance(value, bool) or not isinstance(value, (str, int, float, Decimal)):
                raise FieldError(name, _("must be a decimal number (a string keeps precision)"))
            text = getattr(value, "text", None) or str(value)
            text = text.strip()
            # The text's shape first: no NaN, Infinity or 9-digit exponent reaches Decimal.
            if len(text) > DECIMAL_TEXT_MAX or not DECIMAL_RE.fullmatch(text):
                raise FieldError(name, _("must be a finite decimal number (at most 40 digits each "
                                         "side of the point, exponent of at most 4 digits)"))
            number = Decimal(text)
            if number < 0:
                raise FieldError(name, _("must not be negative"))
            if number >= high:
                raise FieldError(name, format_lazy(_("must be less than {high}"),
                                                   high=f"{high:,f}"))
            return number.quantize(step)
        return check_decimal
    if isinstance(model_field, (models.IntegerField, models.BigIntegerField)):
        low = 0 if isinstance(model_field, models.PositiveIntegerField) else -(2 ** 63)
        high = 2 ** 31 - 1 if not isinstance(model_field, models.BigIntegerField) else 2 ** 63 - 1
        cap = _sum_cap(model_field)
        if cap is not None:
            low, high = max(low, cap[0]), min(high, cap[1])

        def check_int(value, now):
            if isinstance(value, bool) or not isinstance(value, int):
                raise FieldError(name, _("must be a whole number"))
            if not low <= value <= high:
                raise FieldError(name, format_lazy(_("must be between {low} and {high}"),
                                               low=low, high=high))
            return value
        return check_int
    if isinstance(model_field, models.JSONField):
        def check_json(value, now):
            if not isinstance(value, (dict, list)):
                raise FieldError(name, _("must be an object or a list"))
            reason = _json_error(value)
            if reason:
                raise FieldError(name, reason)
            if len(json.dumps(value, ensure_ascii=False).encode()) > JSON_MAX_BYTES:
                raise FieldError(name, format_lazy(_("is larger than {size} KB"),
                                               size=JSON_MAX_BYTES // 1024))
            return value
        return check_json
    if isinstance(model_field, (models.CharField, models.TextField)):
        max_length = model_field.max_length or TEXT_MAX_CHARS
        choices = {str(c[0]) for c in model_field.choices} if model_field.choices else None

        def check_text(value, now):
            _check_text(value, name, max_length)
            if choices is not None and value not in choices:
                raise FieldError(name, format_lazy(_("must be one of: {choices}"),
                                               choices=", ".join(sorted(choices))))
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
        """A dict of model field values, or InvalidEvent listing every bad field."""
        errors = [FieldError(label(name), _("is not a field of this kind"))
                  for name in sorted(map(str, set(item) - set(self.validators) - {"kind"}))]
        values = {}
        for name, check in self.validators.items():
            try:
                if name in item and item[name] is not None:
                    values[name] = check(item[name], now)
                elif name in self.required:
                    raise FieldError(name, _("is required"))
                else:
                    values[name] = self.defaults[name]()
            except InvalidEvent as error:
                errors.extend(error.errors)
            except FieldError as error:
                errors.append(error)
        if "total_tokens" in self.validators and "total_tokens" not in item and not errors:
            values["total_tokens"] = values["prompt_tokens"] + values["completion_tokens"]
            if values["total_tokens"] > 2 ** 31 - 1:
                errors.append(FieldError("total_tokens", format_lazy(
                    _("prompt_tokens + completion_tokens is over {limit}"), limit=2 ** 31 - 1)))
        if errors:
            raise InvalidEvent(errors)
        return values


def fitted(kind, values):
    """The console's own event values with text cut to its field's cap (ending in …) and
    NUL or unpaired surrogates replaced by U+FFFD: a long or garbled exception message is
    recorded, shortened, instead of failing the recording. Events from outside are refused
    instead (ingest)."""
    fitted_values = dict(values)
    for name, value in values.items():
        try:
            model_field = kind.model._meta.get_field(name)
        except LookupError:
            continue
        if isinstance(model_field, models.JSONField) and name != "metadata":
            fitted_values[name] = _mended(value)
            continue
        if not isinstance(value, str):
            continue
        if model_field.choices or not isinstance(model_field, (models.CharField,
                                                               models.TextField)):
            continue
        cap = model_field.max_length or TEXT_MAX_CHARS
        value = UNSTORABLE_RE.sub("\ufffd", value)
        fitted_values[name] = value if len(value) <= cap else value[:cap - 1] + "…"
    return fitted_values


def _mended(value):
    """A copy of the console's own JSON with NUL and unpaired surrogates replaced."""
    if isinstance(value, str):
        return UNSTORABLE_RE.sub("\ufffd", value)
    if isinstance(value, dict):
        return {_mended(k) if isinstance(k, str) else k: _mended(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_mended(v) for v in value]
    return value


_schemas = {}


def schema_for(kind):
    if kind.slug not in _schemas:
        _schemas[kind.slug] = KindSchema.for_kind(kind)
    return _schemas[kind.slug]


# --- the customer a row belongs to ---------------------------------------------------

@dataclass(frozen=True)
class Customers:
    """The organizations and projects a batch names, looked up once: {project public id:
    its organization's public id} and the organization public ids that exist (one query
    each, none for a batch that names none)."""

    projects: dict
    organizations: frozenset

    @classmethod
    def named_in(cls, items, source):
        projects, organizations = set(), set()
        for item in items:
            if isinstance(item, dict):
                project, organization = item.get("project_id"), item.get("organization_id")
                if _storable_id(project) and project != source.project_id:
                    projects.add(project)
                if _storable_id(organization) and not source.project_id:
                    organizations.add(organization)
        if not (projects or organizations):
            return NO_CUSTOMERS
        from accounts.models import Organization, Project

        return cls(dict(Project.objects.filter(public_id__in=projects).values_list(
                        "public_id", "organization__public_id")) if projects else {},
                   frozenset(Organization.objects.filter(public_id__in=organizations)
                             .values_list("public_id", flat=True)) if organizations
                   else frozenset())


NO_CUSTOMERS = Customers({}, frozenset())
ID_MAX_LENGTH = 64  # organization_id, project_id


def _storable_id(value):
    """A value worth looking up: one the row could hold (a bad one is refused by its
    field's validation, and must not reach the database first)."""
    return (isinstance(value, str) and 0 < len(value) <= ID_MAX_LENGTH
            and unstorable(value) is None)


def customer_fields(values, source, customers):
    """Fill and check a valid row's organization_id and project_id (InvalidEvent naming
    them). A customer's key writes its own organization's rows only: absent, they are its
    organization and project; another organization, or a project not in its organization,
    is refused. A platform key may name any organization; a known project must belong to
    the organization named (which it fills when absent), and a project named with an
    organization that exists must be one of its projects."""
    organization, project = values["organization_id"], values["project_id"]
    errors = []
    if source.project_id:
        if organization and organization != source.organization_id:
            errors.append(FieldError("organization_id", format_lazy(
                _("this key belongs to organization {organization}; it may not write rows "
                  "of another organization"), organization=source.organization_id)))
        if project and project != source.project_id and \
                customers.projects.get(project) != source.organization_id:
            errors.append(FieldError("project_id", format_lazy(
                _("is not a project of this key's organization ({organization})"),
                organization=source.organization_id)))
        values["organization_id"] = source.organization_id
        values["project_id"] = project or source.project_id
    elif project:
        owner = customers.projects.get(project)
        if owner is not None and not organization:
            values["organization_id"] = owner
        elif organization and owner != organization and (
                owner is not None or organization in customers.organizations):
            errors.append(FieldError("project_id", format_lazy(
                _("is not a project of organization {organization}"),
                organization=label(organization))))
    if errors:
        raise InvalidEvent(errors)
    return values


# --- storing ------------------------------------------------------------------------

def ingest(items, *, kind_slug=None, source: Source = CONSOLE_SOURCE):
    """Validate and store a batch; valid items are stored even when others are rejected.

    Each item names its kind (`kind`: audit, usage, auth, system) unless `kind_slug`
    gives one kind for the whole batch (the service functions use that). `source` is who
    writes it: an event of a kind it may not write is rejected, every row stored carries
    its provenance, and a customer's key writes only its organization's rows
    (customer_fields).
    """
    now = timezone.now()
    result = IngestResult(event_ids=[None] * len(items))
    by_kind = {}
    customers = Customers.named_in(items, source)
    for index, item in enumerate(items):
        try:
            if not isinstance(item, dict):
                raise FieldError("", _("each event must be a JSON object"))
            slug = kind_slug or item.get("kind")
            kind = registry.get(slug) if isinstance(slug, str) else None
            if kind is None:
                raise FieldError("kind", format_lazy(_("must be one of: {choices}"),
                                                  choices=", ".join(k.slug for k in registry)))
            if source.kinds is not None and kind.slug not in source.kinds:
                raise FieldError("kind", format_lazy(
                    _("this key may not write {kind} events (it may write: {kinds})"),
                    kind=kind.slug, kinds=", ".join(sorted(source.kinds)) or "none"))
            values = schema_for(kind).clean(item, now)
            if source.project_id or values["organization_id"] or values["project_id"]:
                customer_fields(values, source, customers)
        except FieldError as error:
            result.rejected += 1
            result.errors.extend({"index": index, "field": e.field, "reason": e.reason}
                                 for e in getattr(error, "errors", [error]))
            continue
        values["ingested_at"] = now
        values["ingested_by"], values["ingested_by_name"] = source.ingested_by, source.name
        result.event_ids[index] = str(values["event_id"])
        by_kind.setdefault(kind.slug, []).append(values)

    with transaction.atomic():
        for slug, rows in by_kind.items():
            unique = list({row["event_id"]: row for row in rows}.values())
            stored = registry[slug]
            inserted = engine_for(stored).store(stored, unique)
            result.accepted += inserted
            result.duplicates += len(rows) - inserted
    for slug in by_kind:  # once committed: what may lag (a rollup fold)
        engine_for(registry[slug]).after_ingest(registry[slug])
    return result


def reject_alert_threshold():
    return settings.LOGCENTER["INGEST_REJECT_ALERT"]
