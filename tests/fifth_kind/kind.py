"""The fifth kind's registry entry."""

from logcenter.core.registry import (COMMON_FILTERS, ENVELOPE_ACTOR, ENVELOPE_ORGANIZATION,
                                     ENVELOPE_REQUEST, FULL, DetailSection, EventChart,
                                     LogKind, registry)
from tests.fifth_kind.filters import DeployEventFilterSet
from tests.fifth_kind.models import DeployEvent
from tests.fifth_kind.serializers import DeployEventSerializer
from tests.fifth_kind.tables import DeployEventTable

DEPLOY = registry.register(LogKind(
    slug="deploy",
    label="Deploys",
    api_name="deploy-events",
    model=DeployEvent,
    filterset=DeployEventFilterSet,
    table=DeployEventTable,
    serializer=DeployEventSerializer,
    description="Which version of which service went where.",
    charts=EventChart(field="result", title="Deploys by result",
                      colours={"success": "#12805c", "failure": "#d92d20"}),
    retention_days=45,
    grants={"Auditor": FULL, "Support": ("view", "view_all")},
    sections=(
        DetailSection("Deploy", ("event_id", "occurred_at", "ingested_at", "service",
                                 "version", "environment", "result", "message")),
        ENVELOPE_ACTOR,
        ENVELOPE_REQUEST,
        ENVELOPE_ORGANIZATION,
    ),
    page_filters=("service", "version", "environment", "result") + COMMON_FILTERS,
))
