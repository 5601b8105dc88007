"""GET /api/v1/timeline/: the cross-kind timeline (logcenter.core.timeline) as canonical
events (logcenter.core.events), newest first, with a cursor to the older ones."""

from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from logcenter.core.params import without_api_own
from logcenter.core.serializers import UTCDateTimeField
from logcenter.core.timeline import PARAMETERS, timeline


class CanonicalEventSerializer(serializers.Serializer):
    id = serializers.CharField()
    kind = serializers.CharField()
    timestamp = UTCDateTimeField()
    event_type = serializers.CharField()
    category = serializers.CharField()
    severity = serializers.CharField()
    result = serializers.CharField()
    actor = serializers.DictField()
    target = serializers.DictField()
    context = serializers.DictField()
    summary = serializers.CharField()
    details = serializers.DictField()
    url = serializers.CharField()


class TimelineView(APIView):
    """Every row of the kinds you see about one request_id, user, api_key, ip or
    organization_id (exactly one), newest first, across kinds. `kinds` narrows them
    (comma-separated); the window is the lists' (`range`, `start_time`, `end_time`)."""

    @extend_schema(
        tags=["timeline"],
        parameters=[OpenApiParameter(name, str) for name in sorted(PARAMETERS)],
        responses=inline_serializer("Timeline", {
            "results": CanonicalEventSerializer(many=True),
            "next_cursor": serializers.CharField(allow_null=True),
        }),
    )
    def get(self, request):
        page = timeline(request.user, without_api_own(request.query_params))
        events = [{**entry.event, "url": entry.row.get_absolute_url()} for entry in page.entries]
        return Response({"results": CanonicalEventSerializer(events, many=True).data,
                         "next_cursor": page.next_cursor})
