"""Usage endpoints beside the generic viewset: the key's own lookup and the stats."""

import logging
import time
from dataclasses import replace

from django.core.cache.backends.locmem import LocMemCache
from django.utils.decorators import method_decorator
from django.views.decorators.csrf import csrf_exempt
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.exceptions import AuthenticationFailed, ValidationError
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.throttling import SimpleRateThrottle
from rest_framework.views import APIView

from accounts.models import ApiKey

from logcenter.analytics import stats
from logcenter.core import selectors
from logcenter.models import UsageRecord
from logcenter.core.params import check_parameters, without_api_own
from logcenter.core.registry import registry
from logcenter.core.request_context import client_ip
from logcenter.core.serializers import UTCDateTimeField

logger = logging.getLogger(__name__)

BY_KEY_LIMIT = 1000
BY_KEY_PARAMETERS = {"key", "limit"}

try:  # the errors of the cache the throttle counts in, when that cache is Redis
    from redis.exceptions import RedisError as _CacheError
except ImportError:  # pragma: no cover
    _CacheError = OSError


class ByKeyThrottle(SimpleRateThrottle):
    """Per client IP: the lookup is public, so guessing keys must be slow.

    The IP is the console's one client address (X-Forwarded-For only from TRUSTED_PROXIES;
    DRF's own get_ident believes any X-Forwarded-For). When the shared cache (Redis) is
    down, each process counts in its own memory instead: the lookup keeps answering, and
    stays limited (per process) until Redis is back.
    """

    scope = "usage_by_key"
    local_cache = LocMemCache("logcenter-usage-by-key", {})
    _warned_at = 0.0

    def get_ident(self, request):
        return getattr(request, "client_ip", None) or client_ip(request) or "unknown"

    def get_cache_key(self, request, view):
        return self.cache_format % {"scope": self.scope, "ident": self.get_ident(request)}

    def allow_request(self, request, view):
        try:
            return super().allow_request(request, view)
        except (_CacheError, OSError) as exc:
            now = time.monotonic()
            if now - ByKeyThrottle._warned_at > 60:
                ByKeyThrottle._warned_at = now
                logger.warning("usage by-key: cache unavailable (%s); rate-limiting in this "
                               "process's memory until it is back", type(exc).__name__)
            self.cache = self.local_cache
            return super().allow_request(request, view)


class ByKeyUsageSerializer(serializers.ModelSerializer):
    occurred_at = UTCDateTimeField()

    class Meta:
        model = UsageRecord
        fields = ("event_id", "occurred_at", "endpoint", "platform_model", "group",
                  "prompt_tokens", "completion_tokens", "cached_tokens", "total_tokens",
                  "cost", "quota", "latency_ms", "is_stream", "status", "error_code")


def _key_from_request(request):
    header = request.headers.get("Authorization", "")
    secret = header[len("Bearer "):].strip() if header.startswith("Bearer ") else ""
    secret = secret or request.query_params.get("key", "").strip()
    if not secret:
        raise AuthenticationFailed("Send the key as 'Authorization: Bearer <key>' or ?key=.")
    key = ApiKey.from_secret(secret)
    if key is None or not key.owner.is_active:  # as accounts.authentication refuses them
        raise AuthenticationFailed("Unknown or revoked key.")
    return key


@method_decorator(csrf_exempt, name="dispatch")
class UsageByKeyView(APIView):
    """The most recent usage rows of the API key sent with the request (newest first).

    Public and CORS-enabled for the gateway's own pages; the key itself is never echoed,
    and servers' access logs show a `?key=` as `key=[redacted]` (logcenter.web.log_filters).
    """

    authentication_classes = []
    permission_classes = [AllowAny]
    throttle_classes = [ByKeyThrottle]

    def get_authenticate_header(self, request):
        return 'Bearer realm="api"'  # a missing or wrong key is a 401, not a 403

    @extend_schema(
        parameters=[OpenApiParameter("key", str, description="The API key (or use the "
                                     "Authorization header)"),
                    OpenApiParameter("limit", int, description=f"At most {BY_KEY_LIMIT}")],
        responses=inline_serializer("UsageByKey", {
            "key": inline_serializer("UsageByKeyKey", {"name": serializers.CharField(),
                                                      "prefix": serializers.CharField()}),
            "results": ByKeyUsageSerializer(many=True)}),
    )
    def get(self, request):
        check_parameters(request.query_params, known=BY_KEY_PARAMETERS)
        key = _key_from_request(request)
        try:
            limit = int(request.query_params.get("limit", BY_KEY_LIMIT))
        except ValueError:
            raise ValidationError({"limit": ["Must be a whole number."]}) from None
        if not 1 <= limit <= BY_KEY_LIMIT:
            raise ValidationError({"limit": [f"Must be between 1 and {BY_KEY_LIMIT}."]})
        rows = selectors.usage_of_key(key, limit)
        return Response({
            "key": {"name": key.name, "prefix": key.prefix},
            "results": ByKeyUsageSerializer(rows, many=True).data,
        }, headers={"Cache-Control": "no-store"})  # its URL may hold the key


class UsageStatsView(APIView):
    """Totals for the usage filter (the same parameters as the usage list), plus requests
    and tokens per minute over the last 60 seconds. Members get their own figures."""

    @extend_schema(
        parameters=[OpenApiParameter(name, str) for name in sorted(stats.parameter_names())],
        responses=inline_serializer("UsageStats", {
            "cost": serializers.DecimalField(max_digits=20, decimal_places=8),
            "quota": serializers.IntegerField(),
            "credits": serializers.DecimalField(max_digits=20, decimal_places=4),
            "requests": serializers.IntegerField(),
            "prompt_tokens": serializers.IntegerField(),
            "completion_tokens": serializers.IntegerField(),
            "cached_tokens": serializers.IntegerField(),
            "total_tokens": serializers.IntegerField(),
            "rpm": serializers.IntegerField(),
            "tpm": serializers.IntegerField(),
            "rates_sampled": serializers.BooleanField(
                help_text=f"rpm/tpm are the newest {stats.LATEST_SAMPLE:,} calls' rate, not a "
                          "count: the last minute held more"),
        }),
    )
    def get(self, request):
        check_stats_parameters(request.query_params)
        return Response(stats.usage_stats(request.user, without_api_own(request.query_params)))


def check_stats_parameters(params, also=()):
    """The usage filters (not the list's paging) and the endpoint's own parameters."""
    check_parameters(params, stats.parameter_names() | set(also),
                     registry["usage"].filterset.multi_valued())


BUCKET_PARAMETERS = ("bucket_width", "group_by", "limit", "page", "limit_groups")


class UsageBucketsView(APIView):
    """Usage in time buckets (1m, 1h or 1d, aligned to your timezone), optionally grouped.
    Empty buckets are present with zeros. Takes the usage list's filters."""

    @extend_schema(parameters=[
        OpenApiParameter("bucket_width", str, enum=list(stats.WIDTHS)),
        OpenApiParameter("group_by", str, description="comma-separated: "
                         + ", ".join(stats.GROUP_BY)),
        OpenApiParameter("limit", int, description="buckets per page"),
        OpenApiParameter("limit_groups", int, description=(
            "groups kept per bucket, the rest summed into one last row with null names and "
            f"other_groups (their count); 0 keeps every group. Default "
            f"{stats.WIDE_GROUPS_LIMIT} when grouping by "
            f"{' or '.join(stats.WIDE_GROUP_BY)}, else 0")),
        OpenApiParameter("page", str, description="next_page of the previous response"),
        OpenApiParameter("start_time", str), OpenApiParameter("end_time", str)],
        responses=inline_serializer("UsageBuckets", {
            "object": serializers.CharField(),
            "data": serializers.ListField(child=serializers.DictField(), help_text=(
                "[{start_time, end_time, results: [{requests, input_tokens, output_tokens, "
                "cached_tokens, total_tokens, cost, quota, credits, avg_latency_ms, "
                "<group names>…}]}]")),
            "has_more": serializers.BooleanField(),
            "next_page": serializers.CharField(allow_null=True),
        }))
    def get(self, request):
        params = request.query_params
        check_stats_parameters(params, also=BUCKET_PARAMETERS)
        width = params.get("bucket_width", "1d")
        if width not in stats.WIDTHS:
            raise stats.StatsError("bucket_width", "Use 1m, 1h or 1d.")
        limit = _int_param(params, "limit", stats.WIDTHS[width][1], 1, stats.WIDTHS[width][1])
        query_params = without_api_own(params)
        if params.get("page"):
            query_params["start_time"] = params["page"]
        query = stats.parse(request.user, query_params, group_by=params.get("group_by", ""),
                            default_range=stats.WIDTHS[width][0] * 7, also=BUCKET_PARAMETERS)
        default = (stats.WIDE_GROUPS_LIMIT if stats.WIDE_GROUP_BY & set(query.group_names)
                   else 0)
        limit_groups = _int_param(params, "limit_groups", default, 0, stats.MAX_GROUPS_LIMIT)
        query = replace(query, limit_groups=limit_groups or None)
        has_more = len(stats.bucket_edges(query, width)) - 1 > limit
        data = stats.buckets(query, width, limit=limit)  # only this page's buckets
        return Response({"object": "page", "data": data, "has_more": has_more,
                         "next_page": data[-1]["end_time"] if has_more else None})


def _int_param(params, name, default, low, high):
    raw = params.get(name)
    if raw in (None, ""):
        return default
    try:
        value = int(raw)
    except ValueError:
        raise stats.StatsError(name, "Must be a whole number.") from None
    if not low <= value <= high:
        raise stats.StatsError(name, f"Must be between {low} and {high}.")
    return value
