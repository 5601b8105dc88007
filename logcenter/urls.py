from django.urls import path

from logcenter.web import export_views, saved_view_views, timeline_views, views

app_name = "logcenter"

urlpatterns = [
    path("", views.console_home, name="home"),
    path("timeline/", timeline_views.timeline_page, name="timeline"),
    path("<slug:kind>/", views.LogListView.as_view(), name="list"),
    path("<slug:kind>/<uuid:event_id>/", views.LogDetailView.as_view(), name="detail"),
    path("<slug:kind>/export/", export_views.export_start, name="export"),
    path("<slug:kind>/panels/", views.LogPanelsView.as_view(), name="panels"),
    path("<slug:kind>/views/", saved_view_views.view_save, name="view-save"),
    path("<slug:kind>/views/<int:pk>/", saved_view_views.view_change, name="view-change"),
    path("<slug:kind>/columns/", saved_view_views.columns_save, name="columns-save"),
]
