"""The audit query API of seed 004: `GET /api/audit/logs` over every kind, and
`POST /api/audit/export`.

A thin translation: the parameters become each kind's LogQuery (its window, its actor
filter, the visibility rule) plus the canonical event type and result conditions of
logcenter.core.events; the rows are the cross-kind timeline's merge
(logcenter.core.timeline.merged_page), written in the document's event format. The
export is one export job (logcenter.exports.jobs) per kind the filters select, each with
the kind's own list parameters for them (export_params), to an S3 destination when one
is named. The mapping, field by field, is in docs/api.md.
"""

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.db.models import Count
from django.utils.translation import gettext
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import exceptions, serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from logcenter.api.faces.common import FaceError, log_query, one, refuse_unknown, whole
from logcenter.core.access import access_for, visible_kinds
from logcenter.core.events import EventForm, event_type_filter, type_pattern
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
            if failed is None:  # a kind without results or failures: none fail
                if result == "failure":
                    continue
            else:
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


class DocumentDialect:
    """Errors in the document's dialect: {"error": {"code", "message", "parameter"}}."""

    def handle_exception(self, exc):
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


class AuditLogsView(DocumentDialect, APIView):
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


# --- POST /api/audit/export -----------------------------------------------------------

EXPORT_FIELDS = ("format", "filters", "destination")
EXPORT_FILTERS = ("startTime", "endTime", "eventType", "actorId", "result")


def _field_values(kind, name, value, prefix):
    """A type field's list values for an exact value (prefix False) or a prefix: a field
    with choices (usage's endpoint) gets the choices it means, None when none; a free one
    the value, or `value.*` (the lists' prefix match)."""
    choices = [c for c, _ in kind.model._meta.get_field(name).choices or ()]
    if choices:
        found = [c for c in choices if (c.startswith(value + ".") if prefix else c == value)]
        return found or None
    return [f"{value}.*" if prefix else value]


def _type_params(kind, pattern):
    """The kind's list parameters selecting the rows whose canonical event type matches
    `pattern` (a type, or one ending in .*), as event_type_filter selects them; None when
    none can match."""
    form = kind.event_form or EventForm(type_fields=(), prefix=kind.slug)
    fields = list(form.type_fields)
    if pattern == "*":
        return {}
    split = type_pattern(kind, pattern)
    if split is None:
        return None
    parts, wildcard = split
    params = {}
    for name in fields[:-1]:  # one dot-free segment each (system: source)
        if not parts:
            return params if wildcard else None
        values = _field_values(kind, name, parts.pop(0), False)
        if values is None:
            return None
        params[name] = values
    rest = ".".join(parts)
    if not fields:
        return params if wildcard or not rest else None
    if not rest:
        return params if wildcard else None
    values = _field_values(kind, fields[-1], rest, wildcard)
    return None if values is None else {**params, fields[-1]: values}


def _result_params(kind, result):
    """The kind's list parameters for the document's success/failure: its result field
    (audit and auth: result; usage: status; system: level) holding a failure or not.
    None when the kind has no result and failures are asked for."""
    form = kind.event_form or EventForm(type_fields=(), prefix=kind.slug)
    if not form.result_field:
        return {} if result == "success" else None
    if result == "failure":
        return {form.result_field: list(form.failures)}
    choices = [c for c, _ in kind.model._meta.get_field(form.result_field).choices or ()]
    return {form.result_field: [c for c in choices if c not in form.failures]}


def export_params(kind, pattern=None, result=None):
    """The kind's list parameters for the document's eventType and result, or None when
    the kind has none of those rows. The document's success/failure endings match
    Logcenter's succeeded/failed too (as GET /api/audit/logs)."""
    params = {}
    if pattern:
        found = [p for p in map(lambda p: _type_params(kind, p), _patterns(pattern))
                 if p is not None]
        if not found:
            return None
        for more in found:  # the spellings differ in the last field only
            for name, values in more.items():
                params[name] = list(dict.fromkeys(params.get(name, []) + values))
    if result:
        more = _result_params(kind, result)
        if more is None:
            return None
        params.update(more)
    return params


class AuditExportJobSerializer(serializers.Serializer):
    exportId = serializers.CharField()
    kind = serializers.CharField()
    format = serializers.CharField()
    status = serializers.CharField()
    destination = serializers.CharField(allow_null=True)
    statusUrl = serializers.CharField()
    downloadUrl = serializers.CharField(allow_null=True)


def _export_item(request, job):
    from django.urls import reverse

    from logcenter.exports import jobs

    job.refresh_from_db()  # a queued job may already have run in-process
    done = job.status == job.Status.COMPLETED
    return {"exportId": str(job.export_id), "kind": job.kind, "format": job.format,
            "status": job.status, "destination": jobs.destination_url(job) or None,
            "statusUrl": request.build_absolute_uri(reverse("export-detail",
                                                            args=[job.export_id])),
            "downloadUrl": request.build_absolute_uri(reverse("export-download",
                                                              args=[job.export_id]))
            if done else None}


class AuditExportView(DocumentDialect, APIView):
    """Seed 004's export: `{"format", "filters", "destination"}`, the filters being the
    query API's. One export job per kind the filters select that you may export, each to
    the S3 destination named (one you manage: its dst_… ID or an s3:// address under it),
    else downloaded; 202 `{"exports": [...]}`, each followed at its statusUrl."""

    @extend_schema(
        tags=["compat: audit query API (004)"], operation_id="audit_export_create",
        request=inline_serializer("AuditExportRequest", {
            "format": serializers.CharField(required=False,
                                            help_text="csv (the default), json or ndjson"),
            "filters": serializers.DictField(child=serializers.CharField(), required=False),
            "destination": serializers.CharField(required=False)}),
        responses={202: inline_serializer("AuditExportAccepted", {
            "exports": AuditExportJobSerializer(many=True)})},
    )
    def post(self, request):
        from logcenter.exports import jobs
        from logcenter.models import ExportJob

        body = request.data if isinstance(request.data, dict) else None
        if body is None:
            raise FaceError(None, gettext("Send a JSON object."))
        refuse_unknown(request.query_params, ())
        refuse_unknown(body, EXPORT_FIELDS)
        fmt = body.get("format", "csv")
        if fmt not in ExportJob.Format.values:
            raise FaceError("format", gettext("One of: {choices}.").format(
                choices=", ".join(ExportJob.Format.values)))
        filters = body.get("filters") or {}
        if not isinstance(filters, dict):
            raise FaceError("filters", gettext("An object of the query API's parameters."))
        unknown = sorted(set(filters) - set(EXPORT_FILTERS))
        if unknown:
            raise FaceError(f"filters.{unknown[0]}", gettext(
                "Unknown filter; the filters are: {names}.").format(
                    names=", ".join(EXPORT_FILTERS)))
        for name, value in filters.items():
            if not isinstance(value, str):
                raise FaceError(f"filters.{name}", gettext("A string."))
        pattern, result = filters.get("eventType") or None, filters.get("result") or None
        if result not in (None, "success", "failure"):
            raise FaceError("filters.result", gettext("Either success or failure."))
        if pattern is not None and (not _is_pattern(pattern) or pattern.startswith("*.")):
            raise FaceError("filters.eventType", gettext(
                "An event type, or one ending in .* (auth.*, auth.login.*) or *; for "
                "failures, filter on result."))
        destination = body.get("destination") or None
        if destination is not None and not isinstance(destination, str):
            raise FaceError("destination", gettext("A string."))

        user = request.user
        exportable = [kind for kind in visible_kinds(user) if access_for(user, kind).can_export]
        if not exportable:
            raise FaceError(None, gettext("Your role may not export logs."), status=403,
                            code="forbidden")
        window = {ours: filters[theirs] for theirs, ours in (("startTime", "start_time"),
                                                             ("endTime", "end_time"),
                                                             ("actorId", "actor_id"))
                  if filters.get(theirs)}
        plans = []
        for kind in exportable:
            params = export_params(kind, pattern, result)
            if params is None:
                continue
            params = {name: values if isinstance(values, list) else [values]
                      for name, values in {**window, **params}.items()}
            # Bad input is refused before any job is made, named as the document names it.
            theirs = {name: "filters.eventType" for name in params}
            theirs.update({ours: f"filters.{their}" for ours, their in THEIR_NAMES.items()})
            if result:
                theirs.update({name: "filters.result"
                               for name in _result_params(kind, result) or {}})
            log_query(kind, user, params, theirs)
            access_for(user, kind).check_export(fmt)  # the plan's formats: a 403
            plans.append((kind, params))
        if not plans:
            raise FaceError("filters.eventType" if pattern else "filters.result", gettext(
                "It matches no event of the kinds you may export ({kinds}).").format(
                    kinds=", ".join(kind.slug for kind in exportable)))
        if destination is not None:
            try:
                jobs.export_destination(user, destination)
            except jobs.InvalidExportOption as exc:
                raise FaceError("destination", str(exc)) from None

        made = []
        for kind, params in plans:
            try:
                made.append(jobs.export_create(
                    user=user, kind_slug=kind.slug, fmt=fmt, params=params,
                    columns=jobs.ALL_COLUMNS, destination=destination))
            except jobs.QueueUnavailable as exc:
                made.append(exc.job)
                return Response({
                    "error": {"code": "unavailable", "message": gettext(
                        "The task queue is unavailable right now; retry the export later.")},
                    "exports": [_export_item(request, job) for job in made]}, status=503)
        return Response({"exports": AuditExportJobSerializer(
            [_export_item(request, job) for job in made], many=True).data}, status=202)
