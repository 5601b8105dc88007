from django.contrib import admin
from django.urls import include, path
from django.views.generic import RedirectView
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from logcenter.web import export_views, retention_views
from logcenter.integrity import views as integrity_views

urlpatterns = [
    path("", RedirectView.as_view(pattern_name="logcenter:home", permanent=False)),
    path("accounts/", include("accounts.urls")),
    path("logs/", include("logcenter.urls")),
    path("exports/", export_views.export_jobs, name="exports"),
    path("exports/<uuid:export_id>/download/", export_views.export_download,
         name="export-file"),
    path("exports/<uuid:export_id>/retry/", export_views.export_retry, name="export-retry-page"),
    path("exports/<uuid:export_id>/manifest/", export_views.export_manifest,
         name="export-manifest-page"),
    path("retention/", retention_views.retention_page, name="retention"),
    path("integrity/", integrity_views.integrity_page, name="integrity"),
    path("api/v1/", include("logcenter.api.urls")),
    path("", include("logcenter.api.faces.urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="api-docs"),
    path("admin/", admin.site.urls),
]
