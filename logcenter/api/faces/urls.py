"""The compatibility faces: other systems' APIs, answered from the one query layer."""

from django.urls import path

from logcenter.api.faces.audit_query import AuditLogsView
from logcenter.api.faces.gateway_audit import GatewayAuditLogsView, GatewayAuditLogView

urlpatterns = [
    path("api/audit/logs", AuditLogsView.as_view(), name="compat-audit-logs"),
    path("v1/audit/logs", GatewayAuditLogsView.as_view(), name="compat-gateway-audit-logs"),
    path("v1/audit/logs/<str:audit_id>", GatewayAuditLogView.as_view(),
         name="compat-gateway-audit-log"),
]
