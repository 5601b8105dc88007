from django.urls import path

from . import views

app_name = "logcenter"

urlpatterns = [
    path("", views.console_home, name="home"),
    path("<slug:kind>/", views.LogListView.as_view(), name="list"),
    path("<slug:kind>/<uuid:event_id>/", views.LogDetailView.as_view(), name="detail"),
]
