from django.contrib.auth import views as auth_views
from django.urls import path

from accounts import organization_views, views

urlpatterns = [
    path("login/", views.SignInView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("password/", views.PasswordChangeView.as_view(), name="password-change"),
    path("language/", views.language_set, name="set-language"),
    path("api-keys/", views.api_keys, name="api-keys"),
    path("api-keys/<int:pk>/revoke/", views.api_key_revoke, name="api-key-revoke"),
    path("profile/", views.profile, name="profile"),
    path("users/<int:pk>/", views.account_status, name="account-status"),
    path("users/<int:pk>/unlock/", views.account_unlock, name="account-unlock"),
    path("organizations/", organization_views.organizations_page, name="organizations"),
    path("organizations/<str:public_id>/", organization_views.organization_page,
         name="organization"),
    path("organization/", organization_views.my_organization, name="my-organization"),
    path("plans/", organization_views.plans_page, name="plans"),
]
