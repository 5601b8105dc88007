"""OpenAI's Admin API audit logs (seed 003): `GET /v1/organization/audit_logs`.

The audit and authentication rows whose event has an OpenAI type (TYPES: one table, ours ->
theirs; docs/api.md prints it), newest first through the timeline's merge, in OpenAI's
audit log object: `id`, `type`, `effective_at`, `actor` (a session's user, IP and agent, or
an API key), `project`, and the type's payload under the type's name.
"""

from datetime import datetime, timedelta
from datetime import timezone as dt_timezone

from django.db.models import Q
from django.utils.translation import gettext
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.response import Response

from logcenter.api.faces.common import FaceError, log_query, one, refuse_unknown, whole
from logcenter.api.faces.openai_admin import LATEST_TIME, OpenAIErrors
from logcenter.core.access import access_for
from logcenter.core.query import InvalidLogQuery
from logcenter.core.registry import registry
from logcenter.core.timeline import cursor_of, merged_page

# (kind, our event) -> OpenAI's event type. Events not here are not OpenAI audit events.
TYPES = {
    ("audit", "api_key.created"): "api_key.created",
    ("audit", "api_key.updated"): "api_key.updated",
    ("audit", "api_key.reactivated"): "api_key.updated",
    ("audit", "api_key.revoked"): "api_key.deleted",
    ("audit", "api_key.deleted"): "api_key.deleted",
    ("audit", "user.added"): "user.added",
    ("audit", "organization.member_added"): "user.added",
    ("audit", "user.updated"): "user.updated",
    ("audit", "user.enabled"): "user.updated",
    ("audit", "user.disabled"): "user.updated",
    ("audit", "user.role_changed"): "user.updated",
    ("audit", "organization.member_role_changed"): "user.updated",
    ("audit", "user.deleted"): "user.deleted",
    ("audit", "organization.member_removed"): "user.deleted",
    ("audit", "role.created"): "role.created",
    ("audit", "role.renamed"): "role.updated",
    ("audit", "role.permissions_changed"): "role.updated",
    ("audit", "role.deleted"): "role.deleted",
    ("audit", "organization.updated"): "organization.updated",
    ("audit", "organization.plan_changed"): "organization.updated",
    ("audit", "project.created"): "project.created",
    ("audit", "project.updated"): "project.updated",
    ("audit", "project.deleted"): "project.archived",
    ("auth", "login.succeeded"): "login.succeeded",
    ("auth", "login.failed"): "login.failed",
    ("auth", "logout"): "logout.succeeded",
}
EVENT_FIELD = {"audit": "action", "auth": "event"}
PARAMETERS = ("effective_at[gt]", "effective_at[gte]", "effective_at[lt]",
              "effective_at[lte]", "event_types[]", "actor_ids[]", "actor_emails[]",
              "resource_ids[]", "project_ids[]", "limit", "after", "before")
ID_PREFIX = "audit_log-"


def object_id(kind, row):
    return f"{ID_PREFIX}{kind.slug}_{row.event_id.hex}"


def audit_log(kind, row):
    """A row as OpenAI's audit log object."""
    kind_type = TYPES[kind.slug, getattr(row, EVENT_FIELD[kind.slug])]
    email = row.actor_name if "@" in (row.actor_name or "") else None
    user = {"id": row.actor_id, "email": email}
    if row.actor_type == "api_key":
        actor = {"type": "api_key", "api_key": {"id": row.actor_id, "type": "user",
                                                "user": user}}
    else:
        actor = {"type": "session", "session": {"user": user, "ip_address": row.ip,
                                                "user_agent": row.user_agent or None}}
    if kind.slug == "auth":
        payload = ({"error_code": row.failure_reason, "error_message": row.failure_reason}
                   if row.result == "failure" else {})
    else:
        changes = row.changes if isinstance(row.changes, dict) else {}
        payload = {"id": row.resource_id, "name": row.resource_name or None,
                   "changes_requested": {name: change.get("after") if isinstance(change, dict)
                                         else change for name, change in changes.items()}}
    return {"id": object_id(kind, row), "type": kind_type,
            "effective_at": int(row.occurred_at.timestamp()), "actor": actor,
            "project": {"id": row.project_id, "name": None} if row.project_id else None,
            kind_type: payload}


def _many(params, name):
    values = [v for value in params.getlist(name) for v in value.split(",") if v.strip()]
    if len(values) > 100 or any(len(v) > 254 or "\x00" in v for v in values):
        raise FaceError(name, gettext("At most 100 values of at most 254 characters."))
    return values


def _time(params, name):
    text = one(params, name)
    if text is None:
        return None
    if not text.isdigit() or int(text) > LATEST_TIME:
        raise FaceError(name, gettext("A Unix time in seconds."))
    return datetime.fromtimestamp(int(text), tz=dt_timezone.utc)


def _queries(user, params):
    wanted_types = _many(params, "event_types[]")
    known = set(TYPES.values())
    wrong = [t for t in wanted_types if t not in known]
    if wrong:
        raise FaceError("event_types[]", gettext("Types this log holds: {types}.").format(
            types=", ".join(sorted(known))))
    when = Q()
    # Unix seconds: "after t" starts at the next second, "up to t" ends with t's second.
    for suffix, lookup, shift in (("gt", "gte", 1), ("gte", "gte", 0), ("lt", "lt", 0),
                                  ("lte", "lt", 1)):
        moment = _time(params, f"effective_at[{suffix}]")
        if moment is not None:
            when &= Q(**{f"occurred_at__{lookup}": moment + timedelta(seconds=shift)})
    actors, emails = _many(params, "actor_ids[]"), _many(params, "actor_emails[]")
    resources, projects = _many(params, "resource_ids[]"), _many(params, "project_ids[]")
    queries = []
    for slug, field in EVENT_FIELD.items():
        kind = registry.get(slug)
        if kind is None or not access_for(user, kind).can_view:
            continue
        events = [ours for (k, ours), theirs in TYPES.items()
                  if k == slug and (not wanted_types or theirs in wanted_types)]
        if not events or (resources and slug != "audit"):
            continue
        rows = log_query(kind, user, {"range": "all"}).queryset.filter(
            when, **{f"{field}__in": events})
        if actors:
            rows = rows.filter(actor_id__in=actors)
        if emails:
            rows = rows.filter(actor_name__in=emails)
        if resources:
            rows = rows.filter(resource_id__in=resources)
        if projects:
            rows = rows.filter(project_id__in=projects)
        queries.append((kind, rows))
    return queries


def _cursor(user, queries, text, name):
    """The merge's cursor at the object named `text` (one of these queries' rows)."""
    slug, _, hex_id = (text or "").removeprefix(ID_PREFIX).partition("_")
    for kind, rows in queries:
        if kind.slug == slug and len(hex_id) == 32 and all(c in "0123456789abcdef"
                                                            for c in hex_id):
            row = rows.filter(event_id=hex_id).first()
            if row is not None:
                return cursor_of(kind, row)
    raise FaceError(name, gettext("Not the id of an audit log in this list."))


class AuditLogsView(OpenAIErrors):
    """OpenAI's `GET /v1/organization/audit_logs` (the error dialect is the other OpenAI
    faces')."""

    @extend_schema(
        tags=["compat: OpenAI Admin API (003)"], operation_id="openai_audit_logs_list",
        parameters=[OpenApiParameter(name, str) for name in PARAMETERS],
        responses=inline_serializer("OpenAIAuditLogs", {
            "object": serializers.CharField(),
            "data": serializers.ListField(child=serializers.DictField()),
            "first_id": serializers.CharField(allow_null=True),
            "last_id": serializers.CharField(allow_null=True),
            "has_more": serializers.BooleanField()}),
    )
    def get(self, request):
        params = request.query_params
        refuse_unknown(params, PARAMETERS)
        limit = whole(params, "limit", 20, 1, 100)
        after, before = one(params, "after"), one(params, "before")
        if after and before:
            raise FaceError("before", gettext("Give after or before, not both."))
        queries = _queries(request.user, params)
        cursor = (_cursor(request.user, queries, after, "after") if after else
                  _cursor(request.user, queries, before, "before") if before else None)
        try:
            entries, more = merged_page(request.user, queries, limit, cursor,
                                        newer=bool(before))
        except InvalidLogQuery:
            raise FaceError("after", gettext("Not the id of an audit log in this list."))
        data = [audit_log(entry.kind, entry.row) for entry in entries]
        return Response({"object": "list", "data": data,
                         "first_id": data[0]["id"] if data else None,
                         "last_id": data[-1]["id"] if data else None,
                         "has_more": more is not None})
