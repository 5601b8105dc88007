from logcenter.core.tables import BadgeColumn, LogTable
from tests.fifth_kind.models import DeployEvent


class DeployEventTable(LogTable):
    result = BadgeColumn()

    class Meta(LogTable.Meta):
        model = DeployEvent
        fields = ("occurred_at", "service", "version", "environment", "result", "ip")
