"""The compatibility faces: other systems' APIs, answered from the one query layer."""

from django.urls import path

from logcenter.api.faces.audit_query import AuditExportView, AuditLogsView
from logcenter.api.faces.gateway_audit import (GatewayAuditExportStatusView,
                                               GatewayAuditExportView, GatewayAuditLogsView,
                                               GatewayAuditLogView)
from logcenter.api.faces import new_api, openai_audit
from logcenter.api.faces.openai_admin import (CompletionsUsageView, CostsView,
                                              EmbeddingsUsageView)

urlpatterns = [
    path("api/log/", new_api.LogsView.as_view(), name="compat-new-api-logs"),
    path("api/log/self", new_api.SelfLogsView.as_view(), name="compat-new-api-self"),
    path("api/log/stat", new_api.StatView.as_view(), name="compat-new-api-stat"),
    path("api/log/self/stat", new_api.SelfStatView.as_view(), name="compat-new-api-self-stat"),
    path("api/log/search", new_api.SearchView.as_view(), name="compat-new-api-search"),
    path("api/log/self/search", new_api.SelfSearchView.as_view(),
         name="compat-new-api-self-search"),
    path("api/log/token", new_api.TokenLogsView.as_view(), name="compat-new-api-token"),
    path("api/audit/logs", AuditLogsView.as_view(), name="compat-audit-logs"),
    path("api/audit/export", AuditExportView.as_view(), name="compat-audit-export"),
    path("v1/audit/logs", GatewayAuditLogsView.as_view(), name="compat-gateway-audit-logs"),
    path("v1/audit/logs/export", GatewayAuditExportView.as_view(),
         name="compat-gateway-audit-export"),
    path("v1/audit/logs/export/<uuid:export_id>", GatewayAuditExportStatusView.as_view(),
         name="compat-gateway-audit-export-status"),
    path("v1/audit/logs/<str:audit_id>", GatewayAuditLogView.as_view(),
         name="compat-gateway-audit-log"),
    path("v1/organization/costs", CostsView.as_view(), name="compat-openai-costs"),
    path("v1/organization/audit_logs", openai_audit.AuditLogsView.as_view(),
         name="compat-openai-audit-logs"),
    path("v1/organization/usage/completions", CompletionsUsageView.as_view(),
         name="compat-openai-usage-completions"),
    path("v1/organization/usage/embeddings", EmbeddingsUsageView.as_view(),
         name="compat-openai-usage-embeddings"),
]
