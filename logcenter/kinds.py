"""The gateway's four log kinds, registered when the app is ready (LogcenterConfig.ready).

Each entry is configuration for the shared machinery (logcenter.core.registry); another app
registers its own kinds the same way from its AppConfig.ready (docs/adding-a-kind.md).
"""

from django.utils.translation import gettext_lazy as _

from logcenter import models
from logcenter.core import filters, serializers, tables
from logcenter.core.events import EventForm
from logcenter.core.registry import (COMMON_FILTERS, ENVELOPE_ACTOR, ENVELOPE_ORGANIZATION,
                                     ENVELOPE_REQUEST, FULL, DetailSection, EventChart,
                                     LogKind, registry)

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
        ENVELOPE_ORGANIZATION,
        DetailSection(_("Resource"), ("resource_type", "resource_id", "resource_name")),
        DetailSection(_("Changes"), ("changes",)),
        DetailSection(_("Details"), ("details",)),
    ),
    page_filters=("actor", "action", "resource_type", "resource_id", "result",
                  "show_views") + COMMON_FILTERS,
    primary_filters=("actor", "action", "result"),
    suggestions=("action", "resource_type"),
    event_form=EventForm(type_fields=("action",), category_field="category",
                         result_field="result", target=("resource_type", "resource_id",
                                                         "resource_name"),
                         summary_fields=("action", "resource_name", "reason"),
                         detail_fields=("changes", "details", "reason")),
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
        ENVELOPE_ORGANIZATION,
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
    primary_filters=("platform_model", "user", "api_key"),
    suggestions=("platform_model", "upstream_name", "channel_id", "group", "endpoint"),
    own_values="logcenter.UsageHourly",  # a member's own values: their rollup rows
    units={"cost": "money", "quota": "quota", "credits": "credits", "latency_ms": "ms",
           "first_token_ms": "ms", "is_stream": "stream"},
    event_form=EventForm(type_fields=("endpoint",), prefix="usage", category="usage",
                         result_field="status", failures=("error",), failure_severity="error",
                         target=('"model"', "platform_model", "upstream_model"),
                         summary_fields=("platform_model", "total_tokens", "cost", "latency_ms",
                                         "error_code"),
                         detail_fields=("api_key_name", "upstream_name", "prompt_tokens",
                                        "completion_tokens", "total_tokens", "cost",
                                        "latency_ms", "status", "error_code")),
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
    account_field="user_id",
    grants={"Auditor": FULL, "Support": ("view", "view_all", "view_sensitive"),
            "Member": ("view", "export")},  # a member: their own sign-ins
    sections=(
        DetailSection(_("Event"), ("event_id", "occurred_at", "ingested_at", "event", "result",
                                "failure_reason", "identity_provider")),
        DetailSection(_("User"), ("user_id", "username_attempted", "actor_type", "actor_id",
                               "actor_name", "session_key_hash")),
        ENVELOPE_REQUEST,
        ENVELOPE_ORGANIZATION,
    ),
    page_filters=("user", "event", "result", "failure_reason", "ip",
                  "identity_provider") + COMMON_FILTERS,
    primary_filters=("user", "event", "result"),
    suggestions=("event", "failure_reason"),
    event_form=EventForm(type_fields=("event",), prefix="auth", category="auth",
                         result_field="result", target=('"user"', "user_id",
                                                        "username_attempted"),
                         summary_fields=("username_attempted", "failure_reason"),
                         detail_fields=("identity_provider", "failure_reason")),
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
        ENVELOPE_ORGANIZATION,
        DetailSection(_("Resource"), ("resource_type", "resource_id")),
        DetailSection(_("Details"), ("details",)),
    ),
    page_filters=("source", "event", "level", "resource_type", "resource_id") + COMMON_FILTERS,
    primary_filters=("source", "level", "event"),
    suggestions=("source", "event"),
    event_form=EventForm(type_fields=("source", "event"), category="system",
                          severity_field="level", result_field="level",
                          failures=("error", "critical"), failure_severity="error",
                          target=("resource_type", "resource_id"),
                          summary_fields=("source", "message"),
                          detail_fields=("source", "details")),
))
