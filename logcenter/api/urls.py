from django.urls import path
from rest_framework.routers import DefaultRouter

from logcenter.api.exports import (ExportDetailView, ExportDownloadView, ExportListCreateView,
                                   ExportManifestView, ExportRetryView)
from logcenter.api.ingest import IngestView
from logcenter.api.integrity import PublicKeyView, StatusView, VerifyView
from logcenter.api.timeline import TimelineView
from logcenter.api.usage import UsageBucketsView, UsageByKeyView, UsageStatsView
from logcenter.api.streams import DestinationListView
from logcenter.api.saved_views import (SavedViewDetailView, SavedViewListView,
                                       suggestions_view_for)
from logcenter.api.views import register_routes
from logcenter.core.registry import registry

router = DefaultRouter()
register_routes(router)

urlpatterns = [
    # Before the router, whose detail route would take "by-key" for an event id.
    path("usage-records/by-key/", UsageByKeyView.as_view(), name="usage-by-key"),
    path("usage/stats/", UsageStatsView.as_view(), name="usage-stats"),
    path("usage/buckets/", UsageBucketsView.as_view(), name="usage-buckets"),
    path("ingest/", IngestView.as_view(), name="ingest"),
    path("timeline/", TimelineView.as_view(), name="timeline"),
    path("views/", SavedViewListView.as_view(), name="saved-views"),
    path("views/<int:pk>/", SavedViewDetailView.as_view(), name="saved-view-detail"),
    # Before the router, whose detail route would take "suggestions" for an event id.
    *[path(f"{kind.api_name}/suggestions/", suggestions_view_for(kind).as_view(),
           name=f"{kind.api_name}-suggestions") for kind in registry],
    path("integrity/", StatusView.as_view(), name="integrity-status"),
    path("integrity/public-key/", PublicKeyView.as_view(), name="integrity-public-key"),
    path("integrity/verify/", VerifyView.as_view(), name="integrity-verify"),
    path("streams/destinations/", DestinationListView.as_view(), name="stream-destinations"),
    path("exports/", ExportListCreateView.as_view(), name="api-exports"),
    path("exports/<uuid:export_id>/", ExportDetailView.as_view(), name="export-detail"),
    path("exports/<uuid:export_id>/retry/", ExportRetryView.as_view(), name="export-retry"),
    path("exports/<uuid:export_id>/download/", ExportDownloadView.as_view(),
         name="export-download"),
    path("exports/<uuid:export_id>/manifest/", ExportManifestView.as_view(),
         name="export-manifest"),
    *router.urls,
]
