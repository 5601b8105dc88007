"""The registry of log kinds: each kind is configuration for the shared machinery.

The generic list and detail views, the API viewsets, the URL patterns, exports, retention,
the roles' permissions, the charts and the append-only trigger's privileges all look a
kind up here; none of them knows a kind by name (docs/adding-a-kind.md).
"""

from dataclasses import dataclass, field

from django.utils.translation import gettext_lazy as _

from logcenter.core import filters, tables
from logcenter import models
from logcenter.core import serializers


@dataclass(frozen=True)
class DetailSection:
    title: str
    fields: tuple


# A kind's permissions beyond Django's view: the rows of every user, sensitive fields unmasked,
# export (logcenter.models.log_permissions). A role granted FULL sees and exports everything.
FULL = ("view", "view_all", "view_sensitive", "export")


@dataclass(frozen=True)
class EventChart:
    """The chart above a kind's list: its events per hour or day, stacked by `field`.

    `only` keeps those values of the field (all of them when empty); `colours` gives values
    their colour, in legend order (the others take the palette's)."""

    field: str
    title: str
    only: tuple = ()
    colours: dict = field(default_factory=dict, hash=False)


@dataclass(frozen=True)
class LogKind:
    slug: str  # URL segment: /logs/<slug>/
    label: str  # tab title
    api_name: str  # /api/v1/<api_name>/
    model: type
    filterset: type
    table: type
    serializer: type
    sections: tuple
    # Filter names shown on the page's filter bar, in order (the API accepts all).
    page_filters: tuple
    # The field naming the user a row belongs to (a member sees only their own rows).
    owner_field: str = "actor_id"
    # Masked for roles without view_sensitive_<model>.
    sensitive_fields: tuple = ("ip", "user_agent")
    # Left out entirely for roles without view_cost_<model> (usage only).
    cost_fields: tuple = ()
    # Charts above the list: "usage" (spend by model, top spenders), an EventChart, or none.
    charts: "str | EventChart" = ""
    # Days a row is kept when no one has set the kind's retention policy yet.
    retention_days: int = 90
    # What each console role (accounts.roles) may do with this kind beyond nothing: role
    # name -> actions (FULL, or some of them; "view" alone: a member's own rows). The
    # Administrator role holds every permission of every kind and is not named here.
    grants: dict = field(default_factory=dict, hash=False)
    # Opening a row's detail writes an audit event (who looked at which audit record).
    audit_detail_views: bool = False
    description: str = ""
    summary: bool = False  # usage shows requests / tokens / cost of the filter

    @property
    def model_name(self):
        return self.model._meta.model_name

    def perm(self, action):
        """'logcenter.<action>_<model>', e.g. perm("export")."""
        return f"{self.model._meta.app_label}.{action}_{self.model_name}"

    @property
    def actions(self):
        """Every permission of the kind, as actions: "view" and each of its model's own
        (export, view_sensitive, view_all, and view_cost, view_stats for usage)."""
        suffix = f"_{self.model_name}"
        return ("view", *(codename.removesuffix(suffix)
                          for codename, _ in self.model._meta.permissions))

    @property
    def sorts(self):
        return self.filterset.sorts

    @property
    def verbose_name(self):
        return self.model._meta.verbose_name


ENVELOPE_ACTOR = DetailSection(_("Actor"), ("actor_type", "actor_id", "actor_name"))
ENVELOPE_REQUEST = DetailSection(_("Request"), ("request_id", "ip", "user_agent", "ingested_by",
                                             "ingested_by_name"))
COMMON_FILTERS = ("request_id", "q", "metadata")


class Registry:
    def __init__(self):
        self._kinds: dict[str, LogKind] = {}

    def register(self, kind: LogKind):
        if kind.charts not in ("", "usage") and not isinstance(kind.charts, EventChart):
            raise ValueError(f"{kind.slug}: charts is \"usage\", an EventChart or empty")
        self._kinds[kind.slug] = kind
        return kind

    def __iter__(self):
        return iter(self._kinds.values())

    def __getitem__(self, slug) -> LogKind:
        return self._kinds[slug]

    def get(self, slug):
        return self._kinds.get(slug)

    def for_model(self, model) -> LogKind:
        for kind in self._kinds.values():
            if kind.model is model:
                return kind
        raise KeyError(model)


registry = Registry()

registry.register(LogKind(
    slug="audit",
    label=_("Audit"),
    api_name="audit-events",
    model=models.AuditEvent,
    filterset=filters.AuditEventFilterSet,
    table=tables.AuditEventTable,
    serializer=serializers.AuditEventSerializer,
    description=_("Who changed what, and when: admin and important user operations."),
    sensitive_fields=("ip", "user_agent", "details"),
    audit_detail_views=True,
    retention_days=365,
    grants={"Auditor": FULL},
    sections=(
        DetailSection(_("Event"), ("event_id", "occurred_at", "ingested_at", "action", "category",
                                "result", "reason")),
        ENVELOPE_ACTOR,
        ENVELOPE_REQUEST,
        DetailSection(_("Resource"), ("resource_type", "resource_id", "resource_name")),
        DetailSection(_("Changes"), ("changes",)),
        DetailSection(_("Details"), ("details",)),
    ),
    page_filters=("actor", "action", "resource_type", "resource_id", "result",
                  "show_views") + COMMON_FILTERS,
))

registry.register(LogKind(
    slug="usage",
    label=_("Usage"),
    api_name="usage-records",
    model=models.UsageRecord,
    filterset=filters.UsageRecordFilterSet,
    table=tables.UsageRecordTable,
    serializer=serializers.UsageRecordSerializer,
    description=_("Every model call with its bill."),
    charts="usage",
    owner_field="user_id",
    sensitive_fields=("ip", "user_agent", "error_message"),
    cost_fields=("cost", "quota", "credits", "billing_items"),
    summary=True,
    grants={
        "Support": ("view", "view_all"),  # no cost, no sensitive fields
        "Finance": ("view", "view_all", "export", "view_cost", "view_stats"),
        # Their own usage (with their own cost); exports of it hold only their own rows
        # too (the selector decides).
        "Member": ("view", "view_cost", "view_stats", "export"),
    },
    sections=(
        DetailSection(_("Event"), ("event_id", "occurred_at", "ingested_at", "status",
                                "error_code", "error_message")),
        DetailSection(_("Caller"), ("actor_type", "actor_id", "actor_name", "user_id", "username",
                                 "api_key_id", "api_key_name", "group")),
        ENVELOPE_REQUEST,
        DetailSection(_("Call"), ("endpoint", "protocol", "is_stream", "latency_ms",
                               "first_token_ms", "call_count")),
        DetailSection(_("Model route"), ("platform_model", "upstream_model", "upstream_name",
                                      "channel_id", "binding_code")),
        DetailSection(_("Usage & billing"), ("billing_mode", "prompt_tokens", "completion_tokens",
                                          "cached_tokens", "total_tokens", "cost", "quota",
                                          "credits", "billing_items")),
    ),
    page_filters=("user", "api_key", "group", "endpoint", "platform_model", "upstream_model",
                  "upstream_name", "channel_id", "binding_code", "protocol", "billing_mode",
                  "status", "is_stream", "cost_min", "cost_max") + COMMON_FILTERS,
))

registry.register(LogKind(
    slug="auth",
    label=_("Authentication"),
    api_name="auth-events",
    model=models.AuthEvent,
    filterset=filters.AuthEventFilterSet,
    table=tables.AuthEventTable,
    serializer=serializers.AuthEventSerializer,
    description=_("Sign-ins, failures, lockouts and other identity events."),
    charts=EventChart(field="event", title=_("Sign-in failures and lockouts"),
                      only=("login.failed", "account.locked"),
                      colours={"login.failed": "#d92d20", "account.locked": "#7a271a"}),
    owner_field="user_id",
    grants={"Auditor": FULL, "Support": ("view", "view_all", "view_sensitive"),
            "Member": ("view", "export")},  # a member: their own sign-ins
    sections=(
        DetailSection(_("Event"), ("event_id", "occurred_at", "ingested_at", "event", "result",
                                "failure_reason", "identity_provider")),
        DetailSection(_("User"), ("user_id", "username_attempted", "actor_type", "actor_id",
                               "actor_name", "session_key_hash")),
        ENVELOPE_REQUEST,
    ),
    page_filters=("user", "event", "result", "failure_reason", "ip",
                  "identity_provider") + COMMON_FILTERS,
))

registry.register(LogKind(
    slug="system",
    label=_("System events"),
    api_name="system-events",
    model=models.SystemEvent,
    filterset=filters.SystemEventFilterSet,
    table=tables.SystemEventTable,
    serializer=serializers.SystemEventSerializer,
    description=_("Platform events, warnings and errors by source and level."),
    charts=EventChart(field="level", title=_("Events by level"), colours={
        "debug": "#98a2b3", "info": "#2e90fa", "warning": "#f79009", "error": "#d92d20",
        "critical": "#7a271a"}),
    sensitive_fields=("ip", "user_agent", "details"),
    retention_days=30,
    grants={"Auditor": FULL, "Support": ("view", "view_all", "view_sensitive")},
    sections=(
        DetailSection(_("Event"), ("event_id", "occurred_at", "ingested_at", "source", "event",
                                "level", "message")),
        ENVELOPE_ACTOR,
        ENVELOPE_REQUEST,
        DetailSection(_("Resource"), ("resource_type", "resource_id")),
        DetailSection(_("Details"), ("details",)),
    ),
    page_filters=("source", "event", "level", "resource_type", "resource_id") + COMMON_FILTERS,
))
