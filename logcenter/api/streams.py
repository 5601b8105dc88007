"""Log stream destinations over the API, read-only: GET /api/v1/streams/destinations/ lists
the destinations the caller manages (as the console's Log streams page does) with their
health. Never a credential: only whether some are stored. Changes are made in the console
(logcenter.web.stream_views), through logcenter.streams.services."""

from drf_spectacular.utils import extend_schema, extend_schema_field
from rest_framework import serializers
from rest_framework.exceptions import PermissionDenied
from rest_framework.response import Response
from rest_framework.views import APIView

from logcenter.core.params import check_parameters
from logcenter.core.serializers import UTCDateTimeField
from logcenter.streams import delivery, services
from logcenter.streams.models import Destination


class HealthSerializer(serializers.Serializer):
    events_behind = serializers.IntegerField(
        source="behind", help_text="Events carried but not yet delivered, counted up to the "
                                   "health cap (events_behind_capped: more than that).")
    events_behind_capped = serializers.BooleanField(source="behind_capped")
    oldest_undelivered_at = UTCDateTimeField(allow_null=True,
                                             help_text="The ingestion time of the first "
                                                       "undelivered event; null: none waits.")
    lag_seconds = serializers.FloatField(help_text="How old that event is; 0: none waits.")


class DestinationSerializer(serializers.Serializer):
    id = serializers.CharField(source="public_id")
    name = serializers.CharField()
    type = serializers.ChoiceField(choices=Destination.Type.choices)
    endpoint = serializers.CharField()
    organization_id = serializers.CharField(source="organization.public_id", default=None,
                                            allow_null=True,
                                            help_text="null: a platform destination")
    options = serializers.DictField(help_text="The type's settings (never secret).")
    credentials_stored = serializers.SerializerMethodField()
    kinds = serializers.ListField(child=serializers.CharField())
    event_patterns = serializers.ListField(child=serializers.CharField())
    include_sensitive = serializers.BooleanField()
    batch_size = serializers.IntegerField()
    interval_seconds = serializers.IntegerField()
    pause_after_minutes = serializers.IntegerField()
    enabled = serializers.BooleanField()
    status = serializers.ChoiceField(choices=["running", "failing", "paused", "disabled"])
    paused_at = UTCDateTimeField(allow_null=True)
    paused_reason = serializers.CharField(allow_blank=True)
    cursor = serializers.DictField(child=serializers.IntegerField(),
                                   help_text="Per kind, the id of the last row delivered or "
                                             "passed over.")
    delivered_count = serializers.IntegerField()
    failed_count = serializers.IntegerField()
    consecutive_failures = serializers.IntegerField()
    last_error = serializers.CharField(allow_blank=True)
    last_error_at = UTCDateTimeField(allow_null=True)
    last_success_at = UTCDateTimeField(allow_null=True)
    created_at = UTCDateTimeField()
    health = serializers.SerializerMethodField()

    def get_credentials_stored(self, destination) -> bool:
        return bool(destination.credentials)

    @extend_schema_field(HealthSerializer(allow_null=True))
    def get_health(self, destination) -> dict | None:
        """null when its owner is gone (it is paused until someone takes it over)."""
        if destination.created_by_id is None:
            return None
        return HealthSerializer(delivery.health(destination)).data


class DestinationListSerializer(serializers.Serializer):
    results = DestinationSerializer(many=True)


class DestinationListView(APIView):
    """The stream destinations the caller manages, with their health: every destination
    for a platform administrator, their organization's for an organization's owner or
    admin."""

    @extend_schema(tags=["Streams"], responses=DestinationListSerializer)
    def get(self, request):
        check_parameters(request.query_params, known=())
        if not services.can_manage_destinations(request.user):
            raise PermissionDenied(services.streaming_refusal(request.user))
        destinations = services.manageable_destinations(request.user)
        return Response({"results": DestinationSerializer(destinations, many=True).data})
