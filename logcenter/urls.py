from django.urls import path

from logcenter.web import export_views, saved_view_views, stream_views, timeline_views, views

app_name = "logcenter"

urlpatterns = [
    path("", views.console_home, name="home"),
    path("timeline/", timeline_views.timeline_page, name="timeline"),
    # Log streams (before the kinds' routes, whose <slug:kind> would take "streams").
    path("streams/", stream_views.streams_page, name="streams"),
    path("streams/new/", stream_views.stream_form, name="stream-new"),
    path("streams/<str:public_id>/", stream_views.stream_page, name="stream"),
    path("streams/<str:public_id>/edit/", stream_views.stream_form, name="stream-edit"),
    path("streams/<str:public_id>/pause/", stream_views.stream_pause, name="stream-pause"),
    path("streams/<str:public_id>/resume/", stream_views.stream_resume, name="stream-resume"),
    path("streams/<str:public_id>/replay/", stream_views.stream_replay, name="stream-replay"),
    path("streams/<str:public_id>/delete/", stream_views.stream_delete, name="stream-delete"),
    path("<slug:kind>/", views.LogListView.as_view(), name="list"),
    path("<slug:kind>/<uuid:event_id>/", views.LogDetailView.as_view(), name="detail"),
    path("<slug:kind>/export/", export_views.export_start, name="export"),
    path("<slug:kind>/panels/", views.LogPanelsView.as_view(), name="panels"),
    path("<slug:kind>/views/", saved_view_views.view_save, name="view-save"),
    path("<slug:kind>/views/<int:pk>/", saved_view_views.view_change, name="view-change"),
    path("<slug:kind>/columns/", saved_view_views.columns_save, name="columns-save"),
]
