"""Each kind's API serializer (configuration on its registry entry, like its FilterSet and
Table): the REST API and the detail page's raw view render rows through it."""

from datetime import timezone as dt_timezone

from django.db import models
from rest_framework import serializers

from logcenter.models import AuditEvent, AuthEvent, SystemEvent, UsageRecord


class UTCDateTimeField(serializers.DateTimeField):
    """The API speaks ISO 8601 UTC whatever timezone the signed-in user prefers."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("default_timezone", dt_timezone.utc)
        super().__init__(*args, **kwargs)

    def enforce_timezone(self, value):
        value = super().enforce_timezone(value)
        return value.astimezone(dt_timezone.utc) if value.tzinfo else value


class LogSerializer(serializers.ModelSerializer):
    serializer_field_mapping = {
        **serializers.ModelSerializer.serializer_field_mapping,
        models.DateTimeField: UTCDateTimeField,
    }
    kind = serializers.SerializerMethodField()

    class Meta:
        exclude = ("id",)

    def get_kind(self, obj) -> str:
        return obj.kind.slug

    def to_representation(self, instance):
        # Rows arrive masked from the selector; fields the role may not see go entirely.
        data = super().to_representation(instance)
        access = self.context["access"]
        for name in access.hidden_fields:
            data.pop(name, None)
        return data


class AuditEventSerializer(LogSerializer):
    class Meta(LogSerializer.Meta):
        model = AuditEvent


class UsageRecordSerializer(LogSerializer):
    class Meta(LogSerializer.Meta):
        model = UsageRecord


class AuthEventSerializer(LogSerializer):
    class Meta(LogSerializer.Meta):
        model = AuthEvent


class SystemEventSerializer(LogSerializer):
    class Meta(LogSerializer.Meta):
        model = SystemEvent
