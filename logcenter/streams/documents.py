"""The event document every destination receives, and its Elastic Common Schema form.

One document per row (`event_document`): the canonical event of logcenter.core.events
(type, category, severity, result, actor, target, context, summary), the row's own times
and `event_id` (the receiver's dedupe key: a batch sent again carries the same ids), and
every stored field under `record`, masked as the destination's owner sees it. Decimals
(cost, quota) are strings holding the exact stored value; times are UTC ISO 8601 with a Z.
Credentials are never in a row: the API key field holds the key's public prefix.
"""

import datetime
import decimal
import uuid

from logcenter.core.access import MASK
from logcenter.core.events import canonical_event

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


def record_fields(kind):
    return [f.name for f in kind.model._meta.concrete_fields if f.name != "id"]


def event_document(kind, row, *, masked=frozenset(), hidden=frozenset()) -> dict:
    """The row as a destination receives it. `masked`: fields sent as "[masked]" (when
    they hold a value); `hidden`: fields left out (cost, for an owner who may not see it).
    The row object is changed: it becomes a display copy."""
    for name in masked:
        value = getattr(row, name)
        # A JSON field is masked even when empty: a receiver that types fields by their
        # first value (Elasticsearch) would refuse "[masked]" after {} or the reverse.
        if value not in (None, "") or isinstance(value, (dict, list)):
            setattr(row, name, MASK)
    for name in hidden:
        setattr(row, name, None)
    if masked or hidden:
        row._masked = True  # LogEnvelope.save() refuses a display copy
    event = canonical_event(kind, row)
    return {
        "event_id": str(row.event_id),
        "kind": kind.slug,
        "occurred_at": plain(row.occurred_at),
        "ingested_at": plain(row.ingested_at),
        "event_type": event["event_type"],
        "category": event["category"],
        "severity": event["severity"],
        "result": event["result"],
        "actor": event["actor"],
        "target": plain(event["target"]),
        "context": event["context"],
        "summary": event["summary"],
        "record": {name: plain(getattr(row, name)) for name in record_fields(kind)
                   if name not in hidden},
        "version": DOCUMENT_VERSION,
    }


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


def _set(document, dotted, value):
    if value in (None, ""):
        return
    *parents, last = dotted.split(".")
    for name in parents:
        document = document.setdefault(name, {})
    document[last] = value


def ecs_document(document) -> dict:
    """The event document in ECS field names (ECS_FIELDS); nothing stored is dropped: the
    rest is under `logcenter`."""
    ecs = {}
    for dotted, _, value_of in ECS_FIELDS:
        if value_of is not None:
            _set(ecs, dotted, value_of(document))
    ecs["logcenter"] = {"kind": document["kind"], "category": document["category"],
                        "actor_type": document["actor"]["type"], "target": document["target"],
                        "record": document["record"], "version": document["version"]}
    return ecs
