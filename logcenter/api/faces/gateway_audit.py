"""The gateway audit API of seed 000 (its SDK's `client.audit.list/retrieve`):
`GET /v1/audit/logs` and `GET /v1/audit/logs/<audit_id>`.

An organization's audit log there is its gateway calls (usage rows: `gateway.chat`,
`gateway.embedding`, `gateway.rerank`, …, `rag.query`) beside its memory and document
operations (audit rows whose action starts `memory.` or `document.`), newest first, with
page numbers and an exact total. The rows come from each kind's LogQuery (the visibility
rule, the plan's window) merged as the timeline merges them; the usage total comes from
the rollups (logcenter.analytics.stats), the audit one is counted. Page numbers stop at
MAX_DEPTH rows: past it the answer names the cursor API.
"""

import uuid

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.db.models import Q
from django.http import QueryDict
from django.utils.translation import gettext
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import exceptions, serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from logcenter.api.faces.common import (MAX_DEPTH, FaceError, log_query, numbered_page, one,
                                        refuse_unknown, whole)
from logcenter.core.access import access_for
from logcenter.core.query import InvalidLogQuery
from logcenter.core.registry import registry
from logcenter.core.serializers import UTCDateTimeField

PARAMETERS = ("start_time", "end_time", "action", "page", "page_size")
DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE = 20, 100
# The audit actions of this log (the others are the console's own administration).
AUDIT_PREFIXES = ("memory.", "document.")
RAG_ENDPOINT = "rag.query"




def usage_action(endpoint):
    return endpoint if endpoint == RAG_ENDPOINT else f"gateway.{endpoint}"


def _number(value):
    return None if value is None else float(value)


def item(kind, row):
    """A row as the document's audit log item."""
    if kind.slug == "usage":
        usage = {"prompt_tokens": row.prompt_tokens, "completion_tokens": row.completion_tokens,
                 "total_tokens": row.total_tokens}
        return {"audit_id": str(row.event_id), "action": usage_action(row.endpoint),
                "created_at": row.occurred_at, "model": row.platform_model,
                "credits_consumed": _number(row.credits),
                "balance_consumed_usd": _number(row.cost), "metadata": row.metadata,
                "usage": usage}
    credits = (row.details or {}).get("credits") if isinstance(row.details, dict) else None
    return {"audit_id": str(row.event_id), "action": row.action, "created_at": row.occurred_at,
            "model": None, "credits_consumed": credits if isinstance(credits, (int, float))
            else None, "balance_consumed_usd": None, "metadata": row.metadata, "usage": None}


class ItemSerializer(serializers.Serializer):
    audit_id = serializers.CharField()
    action = serializers.CharField()
    created_at = UTCDateTimeField()
    model = serializers.CharField(allow_null=True)
    credits_consumed = serializers.FloatField(allow_null=True)
    balance_consumed_usd = serializers.FloatField(allow_null=True)
    metadata = serializers.DictField()
    usage = serializers.DictField(allow_null=True)


def _may_read(user):
    """audit.read: an organization's owner, admin or auditor, or platform staff who see
    the usage of everyone."""
    access = access_for(user, registry["usage"])
    if access.membership is not None:
        return access.reads_organization
    return access.can_view_all


def _sources(user, params, window=None):
    """[(kind, LogQuery, extra condition, its parameters)] the parameters select."""
    refuse_unknown(params, PARAMETERS)
    if window is None:
        window = {name: value for name in ("start_time", "end_time")
                  if (value := one(params, name))}
    action = one(params, "action")
    names = {"start_time": "start_time", "end_time": "end_time", "endpoint": "action",
             "action": "action"}
    sources = []
    usage, audit = registry["usage"], registry["audit"]
    endpoints = {usage_action(value): value for value, _ in usage.model.Endpoint.choices}
    if action is None or action in endpoints:
        given = {**window, **({"endpoint": endpoints[action]} if action else {})}
        sources.append((usage, log_query(usage, user, given, names), Q(), given))
    if action is None or action.startswith(AUDIT_PREFIXES):
        given = {**window, **({"action": action} if action else {})}
        wanted = Q()
        for prefix in AUDIT_PREFIXES:
            wanted |= Q(action__startswith=prefix)
        sources.append((audit, log_query(audit, user, given, names), wanted, given))
    if action is not None and not sources:
        raise FaceError("action", gettext(
            "Unknown action: gateway.<endpoint>, rag.query, memory.* or document.*."))
    return sources


class GatewayAuditLogsView(APIView):
    """Seed 000's audit logs: your organization's gateway calls and memory/document
    operations, newest first, by page, with the exact total."""

    @extend_schema(
        tags=["compat: gateway audit API (000)"], operation_id="gateway_audit_logs_list",
        parameters=[OpenApiParameter(name, str) for name in PARAMETERS],
        responses=inline_serializer("GatewayAuditLogs", {
            "items": ItemSerializer(many=True), "pagination": serializers.DictField()}),
    )
    def get(self, request):
        params = request.query_params
        page = whole(params, "page", 1, 1, MAX_DEPTH)
        size = whole(params, "page_size", DEFAULT_PAGE_SIZE, 1, MAX_PAGE_SIZE)
        if not _may_read(request.user):
            raise FaceError(None, gettext("Reading audit logs needs audit.read."),
                            status=403, code="permission_denied")
        entries, total = numbered_page(request.user, _sources(request.user, params), page,
                                       size)
        items = [item(entry.kind, entry.row) for entry in entries]
        return Response({"items": ItemSerializer(items, many=True).data,
                         "pagination": {"page": page, "page_size": size, "total": total}})

    def handle_exception(self, exc):
        return _dialect_error(exc) or super().handle_exception(exc)


class GatewayAuditLogView(APIView):
    """One audit log item by its audit_id (404 when absent or not yours to see)."""

    @extend_schema(tags=["compat: gateway audit API (000)"],
                   operation_id="gateway_audit_logs_retrieve", responses=ItemSerializer)
    def get(self, request, audit_id):
        if request.query_params:
            name = next(iter(request.query_params))
            raise FaceError(name, gettext("This endpoint takes no parameter."))
        if not _may_read(request.user):
            raise FaceError(None, gettext("Reading audit logs needs audit.read."),
                            status=403, code="permission_denied")
        try:
            event_id = uuid.UUID(audit_id)
        except ValueError:
            event_id = None
        sources = [] if event_id is None else _sources(request.user, QueryDict(),
                                                       window={"range": "all"})
        for kind, query, extra, _ in sources:
            row = query.queryset.filter(extra).filter(event_id=event_id).first()
            if row is not None:
                access_for(request.user, kind).apply([row])
                return Response(ItemSerializer(item(kind, row)).data)
        raise FaceError(None, gettext("No such audit log."), status=404, code="not_found")

    def handle_exception(self, exc):
        return _dialect_error(exc) or super().handle_exception(exc)


def _dialect_error(exc):
    """Errors as the gateway's API writes them: {"error": {"type", "message", "param"}}."""
    if isinstance(exc, FaceError):
        kind = "invalid_request_error" if exc.code == "invalid_parameter" else exc.code
        return Response({"error": {"type": kind, "message": exc.message,
                                   "param": exc.param}}, status=exc.status)
    if isinstance(exc, (DjangoPermissionDenied, exceptions.PermissionDenied)):
        return Response({"error": {"type": "permission_denied", "message": str(exc),
                                   "param": None}}, status=403)
    if isinstance(exc, (exceptions.NotAuthenticated, exceptions.AuthenticationFailed)):
        return Response({"error": {"type": "authentication_error", "message": str(exc.detail),
                                   "param": None}}, status=401,
                        headers={"WWW-Authenticate": 'Bearer realm="api"'})
    return None


class GatewayAuditExportView(APIView):
    """`POST /v1/audit/logs/export {format, start_time, end_time}`: the organization's
    audit log of that window as export jobs (audit.export, and a plan that includes the
    format): `export_id` is the gateway calls' (the usage export), and `exports` lists it
    with the memory and document operations' (the audit export of those actions), each a
    file of its kind's rows; `GET /v1/audit/logs/export/<export_id>` gives a job's state."""

    FIELDS = ("format", "start_time", "end_time")

    @extend_schema(tags=["compat: gateway audit API (000)"],
                   operation_id="gateway_audit_logs_export",
                   request=inline_serializer("GatewayAuditExportRequest", {
                       "format": serializers.CharField(), "start_time": serializers.CharField(),
                       "end_time": serializers.CharField()}),
                   responses={202: inline_serializer("GatewayAuditExport", {
                       "export_id": serializers.CharField(),
                       "status": serializers.CharField(),
                       "exports": inline_serializer("GatewayAuditExportPart", {
                           "export_id": serializers.CharField(),
                           "kind": serializers.CharField(),
                           "status": serializers.CharField()}, many=True)})})
    def post(self, request):
        from logcenter.exports import jobs

        body = request.data if isinstance(request.data, dict) else None
        if body is None:
            raise FaceError(None, gettext("Send a JSON object."))
        refuse_unknown(request.query_params, ())
        refuse_unknown(body, self.FIELDS)
        fmt = body.get("format", "csv")
        if fmt not in ("csv", "json"):
            raise FaceError("format", gettext("Either csv or json."))
        if not _may_read(request.user):
            raise FaceError(None, gettext("Reading audit logs needs audit.read."),
                            status=403, code="permission_denied")
        window = {name: [str(body[name])] for name in ("start_time", "end_time")
                  if body.get(name) not in (None, "")}
        parts = [("usage", window)]
        if access_for(request.user, registry["audit"]).can_export:
            parts.append(("audit", {**window,
                                    "action": [f"{prefix}*" for prefix in AUDIT_PREFIXES]}))
        made = []
        for kind_slug, params in parts:
            try:
                made.append(jobs.export_create(user=request.user, kind_slug=kind_slug,
                                               fmt=fmt, params=params))
            except InvalidLogQuery as exc:
                field, reasons = next(iter(exc.api_errors().items()))
                raise FaceError(field, " ".join(reasons)) from None
            except jobs.QueueUnavailable as exc:
                made.append(exc.job)
                return Response(_export_answer(made), status=503)
        return Response(_export_answer(made), status=202)

    def handle_exception(self, exc):
        return _dialect_error(exc) or super().handle_exception(exc)


def _export_answer(jobs_made):
    first = jobs_made[0]
    return {"export_id": str(first.export_id), "status": first.status,
            "exports": [{"export_id": str(job.export_id), "kind": job.kind,
                         "status": job.status} for job in jobs_made]}


class GatewayAuditExportStatusView(APIView):
    @extend_schema(tags=["compat: gateway audit API (000)"],
                   operation_id="gateway_audit_logs_export_status",
                   responses=inline_serializer("GatewayAuditExportStatus", {
                       "export_id": serializers.CharField(), "status": serializers.CharField(),
                       "format": serializers.CharField(),
                       "download_url": serializers.CharField(allow_null=True)}))
    def get(self, request, export_id):
        from logcenter.models import ExportJob

        refuse_unknown(request.query_params, ())
        job = ExportJob.objects.filter(export_id=export_id, user=request.user).first()
        if job is None:
            raise FaceError(None, gettext("No such export."), status=404, code="not_found")
        done = job.status == ExportJob.Status.COMPLETED
        return Response({"export_id": str(job.export_id), "status": job.status,
                         "format": job.format,
                         "download_url": f"/api/v1/exports/{job.export_id}/download/"
                         if done else None})

    def handle_exception(self, exc):
        return _dialect_error(exc) or super().handle_exception(exc)
