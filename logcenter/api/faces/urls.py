"""The compatibility faces: other systems' APIs, answered from the one query layer."""

from django.urls import path

from logcenter.api.faces.audit_query import AuditLogsView

urlpatterns = [
    path("api/audit/logs", AuditLogsView.as_view(), name="compat-audit-logs"),
]
