"""OpenAI's Admin API usage and costs shapes (seed 003): `GET /v1/organization/costs`,
`/v1/organization/usage/completions` and `/v1/organization/usage/embeddings`.

A thin translation of the usage buckets (logcenter.analytics.stats: rollups, the
visibility rule, the plan's window): Unix times in, days cut in UTC, the document's
objects out. The usage types Logcenter does not record (moderations, images, audio,
vector stores, code interpreter) are not served; docs/api.md says so.
"""

from dataclasses import replace
from datetime import datetime
from datetime import timezone as dt_timezone
from decimal import Decimal

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.utils.translation import gettext
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import exceptions, serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from logcenter.analytics import stats
from logcenter.api.faces.common import FaceError, one, refuse_unknown, whole
from logcenter.core.query import InvalidLogQuery

WIDTHS = {"1m": 1440, "1h": 168, "1d": 31}  # bucket width: (default) most buckets a page
DEFAULT_LIMITS = {"1m": 60, "1h": 24, "1d": 7}
LATEST_TIME = 253402300799  # 9999-12-31T23:59:59Z: later Unix times are refused


def _unix(params, name, required=False):
    text = one(params, name)
    if text is None:
        if required:
            raise FaceError(name, gettext("Required: a Unix time in seconds."))
        return None
    if not text.isdigit() or int(text) > LATEST_TIME:
        raise FaceError(name, gettext("A Unix time in seconds."))
    return datetime.fromtimestamp(int(text), tz=dt_timezone.utc)


def _group_by(params, allowed):
    """group_by (OpenAI's `group_by[]=a&group_by[]=b`, or `group_by=a,b`) as its names."""
    names = []
    for value in params.getlist("group_by[]") + params.getlist("group_by"):
        names += [name.strip() for name in value.split(",") if name.strip()]
    wrong = [name for name in names if name not in allowed]
    if wrong:
        raise FaceError("group_by", gettext("Group by one of: {names}.").format(
            names=", ".join(allowed)))
    return list(dict.fromkeys(names))


def _unix_of(iso):
    return int(datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp())


class OpenAIErrors(APIView):
    """Errors as OpenAI's API writes them: {"error": {"message", "type", "param", "code"}}."""

    def handle_exception(self, exc):
        if isinstance(exc, FaceError):
            kind = "invalid_request_error" if exc.code == "invalid_parameter" else exc.code
            return Response({"error": {"message": exc.message, "type": kind,
                                       "param": exc.param, "code": None}}, status=exc.status)
        if isinstance(exc, (DjangoPermissionDenied, exceptions.PermissionDenied)):
            return Response({"error": {"message": str(exc), "type": "permission_denied",
                                       "param": None, "code": None}}, status=403)
        if isinstance(exc, (exceptions.NotAuthenticated, exceptions.AuthenticationFailed)):
            return Response({"error": {"message": str(exc.detail), "type":
                                       "invalid_request_error", "param": None,
                                       "code": "invalid_api_key"}}, status=401,
                            headers={"WWW-Authenticate": 'Bearer realm="api"'})
        return super().handle_exception(exc)


class _BucketsFace(OpenAIErrors):
    """The common part: parameters checked in the face's dialect, the buckets read from
    the stats layer, each bucket's groups written by `result`."""

    # Their group_by name -> the stats' GROUP_BY name.
    group_by = {}
    widths = ("1m", "1h", "1d")
    filters = {}  # the usage filters this face applies ({"endpoint": [...]})
    parameters = ("start_time", "end_time", "bucket_width", "group_by", "group_by[]",
                  "limit", "page")

    def result(self, row, groups):
        raise NotImplementedError

    def get(self, request):
        params = request.query_params
        refuse_unknown(params, self.parameters)
        width = one(params, "bucket_width") or "1d"
        if width not in self.widths:
            raise FaceError("bucket_width", gettext("One of: {widths}.").format(
                widths=", ".join(self.widths)))
        start = _unix(params, "page") or _unix(params, "start_time", required=True)
        end = _unix(params, "end_time")
        limit = whole(params, "limit", DEFAULT_LIMITS[width], 1, WIDTHS[width])
        groups = _group_by(params, list(self.group_by))
        query_params = {"start_time": start.isoformat(), **self.filters}
        if end is not None:
            query_params["end_time"] = end.isoformat()
        try:
            query = stats.parse(request.user, query_params,
                                group_by=",".join(self.group_by[g] for g in groups))
        except stats.StatsError as exc:
            raise FaceError(exc.field, exc.reason) from None
        except InvalidLogQuery as exc:
            field, reasons = next(iter(exc.api_errors().items()))
            raise FaceError(field, " ".join(reasons)) from None
        except DjangoPermissionDenied as exc:
            raise FaceError(None, str(exc), status=403, code="permission_denied") from None
        # Days, hours and minutes in UTC, as the document's buckets; every group kept.
        query = replace(query, tz=dt_timezone.utc, limit_groups=None)
        has_more = len(stats.bucket_edges(query, width)) - 1 > limit
        data = stats.buckets(query, width, limit=limit)
        return Response({
            "object": "page",
            "data": [{"object": "bucket", "start_time": _unix_of(bucket["start_time"]),
                      "end_time": _unix_of(bucket["end_time"]),
                      "result": [self.result(row, groups) for row in bucket["results"]
                                 if row.get("requests")]}
                     for bucket in data],
            "has_more": has_more,
            "next_page": str(_unix_of(data[-1]["end_time"])) if has_more and data else None,
        })


PAGE_SHAPE = {
    "object": serializers.CharField(),
    "data": serializers.ListField(child=serializers.DictField()),
    "has_more": serializers.BooleanField(),
    "next_page": serializers.CharField(allow_null=True),
}


def _schema(name, parameters):
    return extend_schema(
        tags=["compat: OpenAI Admin API (003)"],
        parameters=[OpenApiParameter(p, str) for p in parameters],
        responses=inline_serializer(name, PAGE_SHAPE))


class CostsView(_BucketsFace):
    """Costs per day (UTC), grouped by project_id and/or line_item (the model)."""

    group_by = {"project_id": "project", "line_item": "model"}
    widths = ("1d",)

    @_schema("OpenAICosts", _BucketsFace.parameters)
    def get(self, request):
        return super().get(request)

    def result(self, row, groups):
        cost = row.get("cost")
        return {"object": "organization.costs.result",
                "amount": {"value": float(Decimal(cost)) if cost is not None else None,
                           "currency": "usd"},
                "line_item": row.get("model") if "line_item" in groups else None,
                "project_id": row.get("project") if "project_id" in groups else None}


class _UsageView(_BucketsFace):
    group_by = {"project_id": "project", "api_key_id": "api_key", "model": "model"}
    result_object = ""

    def result(self, row, groups):
        return {"object": self.result_object,
                "input_tokens": row["input_tokens"],
                "num_model_requests": row["requests"],
                "project_id": row.get("project") if "project_id" in groups else None,
                "api_key_id": row.get("api_key") if "api_key_id" in groups else None,
                "model": row.get("model") if "model" in groups else None,
                **self.extra(row)}

    def extra(self, row):
        return {}


class CompletionsUsageView(_UsageView):
    """Chat and completion calls' tokens and requests per bucket."""

    filters = {"endpoint": "chat,completion"}
    result_object = "organization.usage.completions.result"

    @_schema("OpenAICompletionsUsage", _BucketsFace.parameters)
    def get(self, request):
        return super().get(request)

    def extra(self, row):
        return {"output_tokens": row["output_tokens"],
                "input_cached_tokens": row["cached_tokens"],
                "input_audio_tokens": 0, "output_audio_tokens": 0, "batch": None}


class EmbeddingsUsageView(_UsageView):
    """Embedding calls' input tokens and requests per bucket."""

    filters = {"endpoint": "embedding"}
    result_object = "organization.usage.embeddings.result"

    @_schema("OpenAIEmbeddingsUsage", _BucketsFace.parameters)
    def get(self, request):
        return super().get(request)
