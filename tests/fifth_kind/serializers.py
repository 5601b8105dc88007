from logcenter.core.serializers import LogSerializer
from tests.fifth_kind.models import DeployEvent


class DeployEventSerializer(LogSerializer):
    class Meta(LogSerializer.Meta):
        model = DeployEvent
