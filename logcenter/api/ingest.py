"""POST /api/v1/ingest/: batches of events from the platform's services."""

import json

from django.conf import settings
from django.utils.decorators import method_decorator
from django.utils.translation import gettext, gettext_lazy
from django.views.decorators.csrf import csrf_exempt
from drf_spectacular.utils import OpenApiExample, extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.exceptions import APIException, ParseError, PermissionDenied
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.authentication import ApiKeyAuthentication

from logcenter.ingest.ingestion import BODY_MAX_DEPTH, Source, loads, reject_alert_threshold
from logcenter.models import SystemEvent
from logcenter.core.params import check_parameters
from logcenter.core.services import events_ingest, system_event_record

NDJSON = "application/x-ndjson"


class PayloadTooLarge(APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_code = "payload_too_large"
    default_detail = gettext_lazy("The body is too large.")


class IngestRequiresKey(PermissionDenied):
    default_detail = gettext_lazy("Ingestion needs an API key with the 'ingest' scope.")


def _loads(text, what, line=None):
    """One JSON document; ParseError naming the line for malformed text, or for text nested
    too deeply (checked before parsing, so no depth reaches a RecursionError). The parser's
    own detail (json's `msg`) stays English."""
    try:
        return loads(text)
    except json.JSONDecodeError as error:
        raise ParseError(gettext("Malformed {format} at line {line}, column {column}: "
                                 "{detail}.").format(format=what, line=line or error.lineno,
                                                     column=error.colno,
                                                     detail=error.msg)) from None
    except (ValueError, RecursionError):
        message = (gettext("The {format} at line {line} is nested more than {depth} levels "
                           "deep.") if line else
                   gettext("The {format} is nested more than {depth} levels deep."))
        raise ParseError(message.format(format=what, line=line, depth=BODY_MAX_DEPTH)) from None


def parse_batch(body: bytes, content_type: str):
    """A list of events from a JSON array or NDJSON; ParseError names the line.

    NaN, Infinity and numbers no field can hold are not a parse error: they reach
    validation as markers, and the event is rejected naming the field."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise ParseError(gettext("The body must be UTF-8.")) from None
    if content_type.startswith(NDJSON):
        items = []
        for number, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            items.append(_loads(line, "NDJSON", number))
        return items
    data = _loads(text, "JSON")
    if not isinstance(data, list):
        raise ParseError(gettext("The body must be a JSON array of events (or NDJSON)."))
    return data


@method_decorator(csrf_exempt, name="dispatch")
class IngestView(APIView):
    """Store a batch of events of any kind; valid events are stored even when others are
    rejected, and re-sending a batch stores nothing twice (event_id is the key)."""

    authentication_classes = [ApiKeyAuthentication]
    parser_classes = []  # the body is read (and size-checked) by the view itself
    required_scope = "ingest"

    def check_permissions(self, request):
        key = request.auth
        if request.user is None or not getattr(request.user, "is_authenticated", False):
            self.permission_denied(request,
                                   message=gettext("Send 'Authorization: Bearer <key>'."))
        if key is None or not key.has_scope("ingest"):
            raise IngestRequiresKey()

    @extend_schema(
        request={"application/json": {"type": "array", "items": {"type": "object"}},
                 NDJSON: {"type": "string"}},
        responses=inline_serializer("IngestResult", {
            "accepted": serializers.IntegerField(),
            "duplicates": serializers.IntegerField(),
            "rejected": serializers.IntegerField(),
            "errors": serializers.ListField(child=serializers.DictField()),
            "event_ids": serializers.ListField(child=serializers.CharField(allow_null=True)),
        }),
        examples=[OpenApiExample("usage", request_only=True, value=[{
            "kind": "usage", "event_id": "0b8f2a52-6a53-4a3f-9bb0-0d0c2b0e4f11",
            "occurred_at": "2026-11-20T10:00:00Z", "platform_model": "gpt-4o",
            "username": "alice", "prompt_tokens": 1200, "completion_tokens": 300,
            "cost": "0.0045", "metadata": {"env": "prod"}}])],
    )
    def post(self, request):
        check_parameters(request.query_params, known=())
        limits = settings.LOGCENTER
        max_bytes, max_events = limits["INGEST_MAX_BYTES"], limits["INGEST_MAX_EVENTS"]
        declared = request.META.get("CONTENT_LENGTH") or "0"
        if declared.isdigit() and int(declared) > max_bytes:
            raise PayloadTooLarge(gettext("The body is larger than {max_bytes} bytes.").format(
                max_bytes=max_bytes))
        body = request._request.read(max_bytes + 1)
        if len(body) > max_bytes:
            raise PayloadTooLarge(gettext("The body is larger than {max_bytes} bytes.").format(
                max_bytes=max_bytes))
        items = parse_batch(body, request.content_type or "")
        if len(items) > max_events:
            raise PayloadTooLarge(gettext("At most {max_events} events per request; got {count}.")
                                  .format(max_events=max_events, count=len(items)))
        result = events_ingest(items, source=Source.for_key(request.auth))
        if result.rejected >= reject_alert_threshold():
            system_event_record(
                source="ingestion", event="ingestion.rejected", level=SystemEvent.Level.WARNING,
                message=f"{result.rejected} of {len(items)} events rejected from key "
                        f"{request.auth.prefix}",
                resource_type="api_key", resource_id=str(request.auth.pk),
                details={"rejected": result.rejected, "batch": len(items),
                         "first_errors": result.stored_errors(5)},
            )
        return Response(result.as_dict(), status=status.HTTP_200_OK)
