"""The event document every destination receives, and its Elastic Common Schema form.

One document per row (`event_document`): the canonical event of logcenter.core.events
(type, category, severity, result, actor, target, context, summary), the row's own times
and `event_id` (the receiver's dedupe key: a batch sent again carries the same ids), and
every stored field under `record`, masked as the destination's owner sees it. Decimals
(cost, quota) are strings holding the exact stored value; times are UTC ISO 8601 with a Z.
Credentials are never in a row: the API key field holds the key's public prefix.

Who builds a document is the kind's engine's choice (`document_reader`): on PostgreSQL the
database writes each row's document as JSON text (Engine.stream_documents), parsed here
only for its head, its `record` embedded in the payload as it is; elsewhere
DocumentBuilder builds it from the row's values in Python. Both give the same JSON.
"""

import datetime
import decimal
import uuid

import orjson
from django.db import models

from logcenter.core.access import MASK
from logcenter.core.events import canonical_event
from logcenter.engines import engine_for

DOCUMENT_VERSION = 1


def plain(value):
    """A stored value as JSON can carry it exactly."""
    if isinstance(value, datetime.datetime):
        return value.astimezone(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    if isinstance(value, decimal.Decimal):
        return format(value, "f")
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, dict):
        return {key: plain(item) for key, item in value.items()}
    if isinstance(value, list):
        return [plain(item) for item in value]
    return value


class _Row:
    """A row's values as attributes, as canonical_event reads rows (its __dict__ is the
    values: attribute reads at C speed)."""

    def __init__(self, values: dict):
        self.__dict__ = values


def _iso(value):
    if value.utcoffset():
        value = value.astimezone(datetime.timezone.utc)
    return value.replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"


def _converter(field):
    """How a stored value of `field` becomes JSON (None: it already is one: text,
    numbers, booleans, and JSON fields, which the database hands over decoded)."""
    if isinstance(field, models.DateTimeField):
        return _iso
    if isinstance(field, models.DecimalField):
        return lambda value: format(value, "f")
    if isinstance(field, models.UUIDField):
        return str
    return None


class DocumentBuilder:
    """Event documents of one kind, for one destination's field rules, built from the
    value tuples of `values_list(*builder.columns)` (id first): no model instances, no
    locale lookups: a stream sends tens of thousands of rows a second."""

    def __init__(self, kind, masked=frozenset(), hidden=frozenset()):
        fields = [f for f in kind.model._meta.concrete_fields
                  if f.name != "id" and f.name not in hidden]
        self.kind, self.hidden = kind, tuple(hidden)
        self.names = [f.name for f in fields]
        self.columns = ["id", *self.names]
        self.ingested_at = self.columns.index("ingested_at")  # the merge's order
        self.masked = [i for i, name in enumerate(self.names) if name in masked]
        self.converters = [(i, convert) for i, f in enumerate(fields)
                           if (convert := _converter(f)) is not None]

    def read(self, rows, after, end, limit) -> list:
        """Up to `limit` value tuples of the rows of `rows` with ids in (after, end], in id
        order."""
        return list(rows.filter(id__gt=after, id__lte=end).order_by("id")
                    .values_list(*self.columns)[:limit])

    def build(self, values) -> dict:
        values = list(values[1:])
        for i in self.masked:
            value = values[i]
            # A JSON field is masked even when empty: a receiver that types fields by
            # their first value (Elasticsearch) would refuse "[masked]" after {}.
            if value not in (None, "") or isinstance(value, (dict, list)):
                values[i] = MASK
        row = _Row(dict(zip(self.names, values)))
        for name in self.hidden:
            setattr(row, name, None)
        event = canonical_event(self.kind, row, plain=True)
        for i, convert in self.converters:
            if values[i] is not None and values[i] != MASK:
                values[i] = convert(values[i])
        record = dict(zip(self.names, values))
        return {
            "event_id": record["event_id"],
            "kind": self.kind.slug,
            "occurred_at": record["occurred_at"],
            "ingested_at": record["ingested_at"],
            "event_type": event["event_type"],
            "category": event["category"],
            "severity": event["severity"],
            "result": event["result"],
            "actor": event["actor"],
            "target": plain(event["target"]),
            "context": event["context"],
            "summary": event["summary"],
            "record": record,
            "version": DOCUMENT_VERSION,
        }


class StoreDocuments:
    """Event documents the store wrote (Engine.stream_documents): rows (id, ingested_at,
    head, record) read by the engine's reader; a document is its head parsed, with the
    record's JSON text embedded as it is (orjson.Fragment: never parsed, never encoded
    again)."""

    ingested_at = 1  # the merge's order

    def __init__(self, rows):
        self.rows = rows

    def read(self, rows, after, end, limit) -> list:
        return self.rows.read(rows, after, end, limit)

    def build(self, values) -> dict:
        document = orjson.loads(values[2])
        document["record"] = orjson.Fragment(values[3])
        document["version"] = DOCUMENT_VERSION
        return document


def document_reader(kind, masked=frozenset(), hidden=frozenset()):
    """How a stream reads `kind`'s rows as documents for these field rules: built by its
    engine in the store when the engine offers it, else by DocumentBuilder. Either has
    `read(rows, after, end, limit)` (value tuples, id first, ingested_at at `ingested_at`)
    and `build(values)`."""
    rows = engine_for(kind).stream_documents(kind, frozenset(masked), frozenset(hidden))
    return StoreDocuments(rows) if rows is not None else DocumentBuilder(kind, masked, hidden)


def event_document(kind, row, *, masked=frozenset(), hidden=frozenset()) -> dict:
    """One row (a model instance) as a destination receives it. `masked`: fields sent as
    "[masked]"; `hidden`: fields left out (cost, for an owner who may not see it)."""
    builder = DocumentBuilder(kind, masked, hidden)
    return builder.build([getattr(row, name) for name in builder.columns])


def compact(value) -> bytes:
    """JSON as receivers are sent it: compact, UTF-8."""
    return orjson.dumps(value)


# The document's fields kept when even the document without `record` is over a receiver's
# limit (a summary or a target of a megabyte): what identifies the event and says what it was.
CORE_FIELDS = ("event_id", "kind", "occurred_at", "ingested_at", "event_type", "category",
               "severity", "result", "version")


def fitted(document: dict, limit: int, encode) -> bytes:
    """`encode(document)`, or when that is over `limit` bytes the document without `record`
    and with `"truncated": true` encoded (only CORE_FIELDS if that is still over): an event
    is shortened, never dropped. Used by the types with a size limit per event (Datadog,
    CloudWatch)."""
    encoded = encode(document)
    if len(encoded) <= limit:
        return encoded
    shorter = {name: value for name, value in document.items() if name != "record"}
    shorter["truncated"] = True
    encoded = encode(shorter)
    if len(encoded) <= limit:
        return encoded
    return encode({**{name: document[name] for name in CORE_FIELDS if name in document},
                   "truncated": True})


# ECS: the Elastic Common Schema fields an Elasticsearch/OpenSearch destination indexes,
# each from the document (docs/operations.md prints this table). Everything else stays
# under `logcenter.*`, so no stored field is lost.
SYSLOG_SEVERITY = {"debug": 7, "info": 6, "warning": 4, "error": 3, "critical": 2}
ECS_FIELDS = (  # (ECS field, what fills it, how)
    ("@timestamp", "occurred_at", lambda d: d["occurred_at"]),
    ("event.id", "event_id", lambda d: d["event_id"]),
    ("event.created", "ingested_at", lambda d: d["ingested_at"]),
    ("event.action", "event_type", lambda d: d["event_type"]),
    ("event.outcome", "result", lambda d: d["result"]),
    ("event.dataset", "logcenter.<kind>", lambda d: f"logcenter.{d['kind']}"),
    ("event.module", "logcenter", lambda d: "logcenter"),
    ("event.kind", "event", lambda d: "event"),
    ("event.severity", "severity as syslog's number (critical 2 … debug 7)",
     lambda d: SYSLOG_SEVERITY.get(d["severity"])),
    ("log.level", "severity", lambda d: d["severity"]),
    ("message", "summary", lambda d: d["summary"]),
    ("user.id", "actor.id", lambda d: d["actor"]["id"]),
    ("user.name", "actor.name", lambda d: d["actor"]["name"]),
    ("source.ip", "actor.ip (left out when masked)",
     lambda d: d["actor"]["ip"] if d["actor"]["ip"] != MASK else None),
    ("user_agent.original", "actor.user_agent", lambda d: d["actor"]["user_agent"]),
    ("http.request.id", "context.request_id", lambda d: d["context"]["request_id"]),
    ("organization.id", "context.organization_id", lambda d: d["context"]["organization_id"]),
    ("labels.project_id", "context.project_id", lambda d: d["context"]["project_id"]),
    ("logcenter.*", "kind, category, actor type, target, record (every stored field)", None),
)


# ECS_FIELDS as paths, split once: a stream writes tens of thousands of documents a second.
_ECS_PATHS = tuple((tuple(dotted.split(".")), value_of)
                   for dotted, _, value_of in ECS_FIELDS if value_of is not None)


def ecs_document(document) -> dict:
    """The event document in ECS field names (ECS_FIELDS); nothing stored is dropped: the
    rest is under `logcenter`. Empty values are left out."""
    ecs = {}
    for path, value_of in _ECS_PATHS:
        value = value_of(document)
        if value is None or value == "":
            continue
        node = ecs
        for name in path[:-1]:
            node = node.get(name) or node.setdefault(name, {})
        node[path[-1]] = value
    ecs["logcenter"] = {"kind": document["kind"], "category": document["category"],
                        "actor_type": document["actor"]["type"], "target": document["target"],
                        "record": document["record"], "version": document["version"]}
    return ecs
