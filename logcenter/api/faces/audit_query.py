"""The audit query API of seed 004: `GET /api/audit/logs` over every kind.

A thin translation: the parameters become each kind's LogQuery (its window, its actor
filter, the visibility rule) plus the canonical event type and result conditions of
logcenter.core.events; the rows are the cross-kind timeline's merge
(logcenter.core.timeline.merged_page), written in the document's event format. The
mapping, field by field, is in docs/api.md.
"""

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.db.models import Count
from django.utils.translation import gettext
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import exceptions, serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from logcenter.api.faces.common import FaceError, log_query, one, refuse_unknown, whole
from logcenter.core.access import visible_kinds
from logcenter.core.events import event_type_filter
from logcenter.core.query import InvalidLogQuery
from logcenter.core.serializers import UTCDateTimeField
from logcenter.core.timeline import merged_page
from logcenter.engines import engine_for

PARAMETERS = ("startTime", "endTime", "eventType", "actorId", "result", "limit", "cursor")
DEFAULT_LIMIT, MAX_LIMIT = 100, 1000
# The document's categories: each kind's canonical category, and the audit categories that
# are data access rather than administration.
CATEGORIES = {"auth": "authentication", "usage": "data", "system": "system"}
DATA_AUDIT_CATEGORIES = {"log_access", "export", "document", "memory"}
# The document names outcomes success/failure; Logcenter's own events end in
# succeeded/failed (login.failed). A type or pattern ending in one also matches the other.
OUTCOME_NAMES = {"success": "succeeded", "failure": "failed"}
THEIR_NAMES = {"start_time": "startTime", "end_time": "endTime", "actor_id": "actorId"}




def document_event_type(event_type):
    head, _, last = event_type.rpartition(".")
    for theirs, ours in OUTCOME_NAMES.items():
        if last == ours:
            return f"{head}.{theirs}" if head else theirs
    return event_type


def _patterns(pattern):
    """The pattern as given and, ending in the document's outcome name, in ours."""
    head, _, last = pattern.rpartition(".")
    if last in OUTCOME_NAMES:
        return [pattern, f"{head}.{OUTCOME_NAMES[last]}" if head else OUTCOME_NAMES[last]]
    return [pattern]


def document_category(event):
    if event["kind"] == "audit":
        return "data" if event["category"] in DATA_AUDIT_CATEGORIES else "admin"
    return CATEGORIES.get(event["kind"], event["category"])


def document_event(event):
    """A canonical event (logcenter.core.events) in the document's format."""
    actor = event["actor"]
    return {
        "id": f"{event['kind']}-{event['id']}",
        "timestamp": event["timestamp"],
        "eventType": document_event_type(event["event_type"]),
        "category": document_category(event),
        "severity": event["severity"],
        "actor": {"type": actor["type"], "id": actor["id"],
                  "email": actor["name"] if "@" in (actor["name"] or "") else None,
                  "ipAddress": actor["ip"], "userAgent": actor["user_agent"] or None},
        "target": event["target"],
        "context": {"sessionId": None, "requestId": event["context"]["request_id"] or None,
                    "organizationId": event["context"]["organization_id"] or None,
                    "projectId": event["context"]["project_id"] or None},
        "details": event["details"],
        "result": event["result"],
    }


class DocumentEventSerializer(serializers.Serializer):
    id = serializers.CharField()
    timestamp = UTCDateTimeField()
    eventType = serializers.CharField()
    category = serializers.CharField()
    severity = serializers.CharField()
    actor = serializers.DictField()
    target = serializers.DictField()
    context = serializers.DictField()
    details = serializers.DictField()
    result = serializers.CharField()


def _is_pattern(text):
    """A type, `*`, `*.<end>` or `<start>.*` (one star, at an end)."""
    if not text or len(text) > 200 or "\x00" in text or text.strip() != text:
        return False
    if text == "*" or "*" not in text:
        return True
    return ((text.startswith("*.") and "*" not in text[2:])
            or (text.endswith(".*") and "*" not in text[:-2]))


def _queries(user, params):
    """[(kind, queryset)] the parameters select, each kind's LogQuery narrowed."""
    refuse_unknown(params, PARAMETERS)
    window = {ours: value for theirs, ours in (("startTime", "start_time"),
                                               ("endTime", "end_time"))
              if (value := one(params, theirs))}
    actor, result = one(params, "actorId"), one(params, "result")
    pattern = one(params, "eventType")
    if result not in (None, "success", "failure"):
        raise FaceError("result", gettext("Either success or failure."))
    if pattern is not None and not _is_pattern(pattern):
        raise FaceError("eventType", gettext(
            "An event type, or one with * for its start or its end (auth.*, *.failure)."))
    queries = []
    for kind in visible_kinds(user):
        query = log_query(kind, user, {**window, **({"actor_id": actor} if actor else {})},
                          THEIR_NAMES)
        rows = query.queryset
        if pattern:
            conditions = [q for p in _patterns(pattern)
                          if (q := event_type_filter(kind, p)) is not None]
            if not conditions:
                continue
            found = conditions[0]
            for more in conditions[1:]:
                found |= more
            rows = rows.filter(found)
        if result:
            failed = event_type_filter(kind, "*.failure")
            rows = rows.filter(failed if result == "failure" else ~failed)
        queries.append((kind, rows))
    return queries


def _summary(queries):
    """{totalEvents, byCategory}: counted up to the cap per kind, the planner's estimate
    past it (`estimated` then true): never a full count of a big table."""
    total, by_category, estimated = 0, {}, False
    for kind, rows in queries:
        if kind.slug == "audit":
            for category, n in rows.order_by().values_list("category").annotate(n=Count("id")):
                name = "data" if category in DATA_AUDIT_CATEGORIES else "admin"
                by_category[name] = by_category.get(name, 0) + n
                total += n
            continue
        engine = engine_for(kind)
        n, capped = engine.count_capped(rows, 10_000)
        if capped:
            n, estimated = max(engine.estimate(rows) or n, n), True
        if n:
            name = CATEGORIES.get(kind.slug, kind.slug)
            by_category[name] = by_category.get(name, 0) + n
            total += n
    return {"totalEvents": total, "byCategory": by_category, "estimated": estimated}


class AuditLogsView(APIView):
    """Seed 004's query API: every kind's events you may see, newest first, in the
    document's event format; `eventType` patterns cross kinds (`auth.*`, `*.failure`)."""

    @extend_schema(
        tags=["compat: audit query API (004)"],
        parameters=[OpenApiParameter(name, str) for name in PARAMETERS],
        responses=inline_serializer("AuditQueryLogs", {
            "logs": DocumentEventSerializer(many=True),
            "pagination": serializers.DictField(),
            "summary": serializers.DictField(),
        }),
    )
    def get(self, request):
        params = request.query_params
        limit = whole(params, "limit", DEFAULT_LIMIT, 1, MAX_LIMIT)
        queries = _queries(request.user, params)
        try:
            entries, next_cursor = merged_page(request.user, queries, limit,
                                               one(params, "cursor"))
        except InvalidLogQuery as exc:
            raise FaceError("cursor", " ".join(exc.api_errors()["cursor"])) from None
        logs = [document_event(entry.event) for entry in entries]
        return Response({
            "logs": DocumentEventSerializer(logs, many=True).data,
            "pagination": {"nextCursor": next_cursor, "hasMore": next_cursor is not None},
            "summary": _summary(queries),
        })

    def handle_exception(self, exc):
        """Errors in the document's dialect: {"error": {"code", "message", "parameter"}}."""
        if isinstance(exc, FaceError):
            return Response({"error": {"code": exc.code, "message": exc.message,
                                       "parameter": exc.param}}, status=exc.status)
        if isinstance(exc, (DjangoPermissionDenied, exceptions.PermissionDenied)):
            return Response({"error": {"code": "forbidden", "message": str(exc)}}, status=403)
        if isinstance(exc, (exceptions.NotAuthenticated, exceptions.AuthenticationFailed)):
            response = super().handle_exception(exc)
            response.data = {"error": {"code": "unauthorized", "message": str(exc.detail)}}
            return response
        return super().handle_exception(exc)
