from logcenter.core.filters import AnyOfFilter, LogFilterSet
from logcenter.models import Result
from tests.fifth_kind.models import DeployEvent


class DeployEventFilterSet(LogFilterSet):
    service = AnyOfFilter(label="Service")
    version = AnyOfFilter(label="Version")
    environment = AnyOfFilter(label="Environment")
    result = AnyOfFilter(choices=Result.choices, label="Result")

    search_fields = ("service", "version", "message")
    unfiltered_fields = {
        **LogFilterSet.unfiltered_fields,
        "message": "free text, found through q",
        "user_agent": "free text, shown on the detail page",
        "ingested_at": "storage time, not a business time",
    }

    class Meta(LogFilterSet.Meta):
        model = DeployEvent
