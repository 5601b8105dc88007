"""The canonical event: any kind's row in one shape, for the timeline and the faces that
speak a cross-kind event format (the audit query API of seed 004).

    {"id", "kind", "timestamp", "event_type", "category", "severity", "result",
     "actor": {"type", "id", "name", "ip", "user_agent"},
     "target": {"type", "id", "name"},
     "context": {"request_id", "organization_id", "project_id"},
     "summary", "details"}

Each kind says how its fields fill it with an EventForm (LogKind.event_form); the envelope
fills the rest. A form names fields, never computes from other kinds.
"""

from dataclasses import dataclass, field

from django.db.models import Q

from logcenter.core.units import display

SEVERITIES = ("debug", "info", "warning", "error", "critical")
SUMMARY_SEPARATOR = " · "


@dataclass(frozen=True)
class EventForm:
    # The event type: `prefix` and these fields' values joined with dots
    # ("auth" + "login.failed" -> "auth.login.failed").
    type_fields: tuple
    prefix: str = ""
    # The category: a field (empty values fall back to the type's first part) or a constant.
    category_field: str = ""
    category: str = ""
    # The severity: a field holding one of SEVERITIES, else `failure_severity` for a row
    # whose result is a failure and "info" otherwise.
    severity_field: str = ""
    failure_severity: str = "warning"
    # The result: a field holding success/failure, or one whose value in `failures` (an
    # error status, an error level) means failure.
    result_field: str = ""
    failures: tuple = ("failure",)
    # The target: (type field or constant, id field, name field); a constant in quotes.
    target: tuple = ()
    # A line saying what happened (fields joined by SUMMARY_SEPARATOR, empty ones skipped).
    summary_fields: tuple = ()
    # Fields put under details, as they are.
    detail_fields: tuple = field(default=(), hash=False)


def _value(row, name):
    if name.startswith('"'):
        return name.strip('"')
    value = getattr(row, name, "") if name else ""
    return "" if value is None else value


def canonical_event(kind, row, plain=False) -> dict:
    """The row in the canonical event shape (masked fields stay masked: the row is the
    display copy its selector gave). `plain`: the summary's units in English, unlocalized
    (units.PLAIN_FORMATS), for documents leaving the console."""
    form = kind.event_form or EventForm(type_fields=(), prefix=kind.slug)
    event_type = ".".join(str(part) for part in (
        form.prefix, *(_value(row, name) for name in form.type_fields)) if part)
    outcome = _value(row, form.result_field) if form.result_field else ""
    result = "failure" if outcome in form.failures else "success"
    severity = _value(row, form.severity_field) if form.severity_field else ""
    if severity not in SEVERITIES:
        severity = form.failure_severity if result == "failure" else "info"
    category = (_value(row, form.category_field) if form.category_field else form.category)
    target_type, target_id, target_name = (*form.target, "", "", "")[:3]
    summary = SUMMARY_SEPARATOR.join(
        str(display(kind.units.get(name), value, plain) or value)
        for name in form.summary_fields
        if (value := _value(row, name)) not in ("", None))
    return {
        "id": str(row.event_id),
        "kind": kind.slug,
        "timestamp": row.occurred_at,
        "event_type": event_type,
        "category": category or event_type.split(".")[0],
        "severity": severity,
        "result": result,
        "actor": {"type": row.actor_type, "id": row.actor_id, "name": row.actor_name,
                  "ip": row.ip, "user_agent": row.user_agent},
        "target": {"type": _value(row, target_type), "id": _value(row, target_id),
                   "name": _value(row, target_name)},
        "context": {"request_id": row.request_id, "organization_id": row.organization_id,
                    "project_id": row.project_id},
        "summary": summary,
        "details": {name: _value(row, name) for name in form.detail_fields},
    }


def type_pattern(kind, pattern):
    """A type pattern (no leading "*.") read against the kind's event types: (its
    segments past the kind's prefix, whether it ends in ".*"), or None when the prefix rules
    the kind out. A pattern ending within the prefix with a star (`auth.*` against
    `auth.login`) is ([], True): every row of the kind. Shared by the filter below and the
    audit export's list parameters, so the two read a pattern alike."""
    form = kind.event_form or EventForm(type_fields=(), prefix=kind.slug)
    parts = pattern.split(".")
    wildcard = parts[-1] == "*"
    if wildcard:
        parts = parts[:-1]
    prefix = form.prefix.split(".") if form.prefix else []
    head, parts = parts[:len(prefix)], parts[len(prefix):]
    if head != prefix[:len(head)]:
        return None
    if len(head) < len(prefix):  # "auth" or "*"-less shorter than the prefix
        return ([], True) if wildcard else None
    return parts, wildcard


def event_type_filter(kind, pattern):
    """A Q selecting the kind's rows whose canonical event type matches `pattern`, or None
    when none of them can. A pattern is a type (`auth.login.failed`), a type's start and a
    star (`auth.*`, `auth.login.*`), a star and a type's end (`*.failed`), or `*`. The
    ends `*.failure` and `*.success` also match by result (usage's error status, a system
    error level), as their names say."""
    form = kind.event_form or EventForm(type_fields=(), prefix=kind.slug)
    fields = list(form.type_fields)
    if pattern == "*":
        return Q()
    if pattern.startswith("*."):
        suffix = pattern[2:]
        matches = []
        if fields:
            matches.append(Q(**{f"{fields[-1]}__endswith": "." + suffix})
                           | Q(**{fields[-1]: suffix}))
        elif form.prefix.endswith(suffix):
            return Q()
        if suffix in ("failure", "success") and form.result_field:
            failed = Q(**{f"{form.result_field}__in": form.failures})
            matches.append(failed if suffix == "failure" else ~failed)
        if not matches:
            return None
        found = matches[0]
        for more in matches[1:]:
            found |= more
        return found
    split = type_pattern(kind, pattern)
    if split is None:
        return None
    parts, wildcard = split
    found = Q()
    for name in fields[:-1]:  # one dot-free segment each (system: source)
        if not parts:
            return found if wildcard else None
        found &= Q(**{name: parts.pop(0)})
    rest = ".".join(parts)
    if not fields:
        return found if wildcard or not rest else None
    if wildcard:
        return found & Q(**{f"{fields[-1]}__startswith": rest + "."}) if rest else found
    return found & Q(**{fields[-1]: rest}) if rest else None
