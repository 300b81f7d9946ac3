"""Top-level routes: pages, the API, health, admin. No media URL is ever routed."""

from __future__ import annotations

from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.templatetags.static import static
from django.urls import include, path

from portal import views
from portal.views import users
from sso import views as sso_views


def favicon(request: HttpRequest) -> HttpResponse:
    """Browsers ask for /favicon.ico on pages that name no icon (JSON, files): send them to the shipped one."""
    return redirect(static("img/favicon.svg"), permanent=True)


urlpatterns = [
    path("", views.home, name="home"),
    path("favicon.ico", favicon, name="favicon"),
    path("login/", sso_views.LoginView.as_view(), name="login"),
    path("oidc/", include("sso.urls")),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("healthz", views.healthz, name="healthz"),
    path("users/", users.users_page, name="users"),
    path("users/new/", users.user_create, name="user-create"),
    path("users/<int:pk>/", users.user_edit, name="user-edit"),
    path("users/<int:pk>/deactivate/", users.user_deactivate, name="user-deactivate"),
    path("users/<int:pk>/reactivate/", users.user_reactivate, name="user-reactivate"),
    path("users/<int:pk>/password-reset/", users.user_password_reset, name="user-password-reset"),
    # The link an admin emails (Django's token views): set a password once, then log in.
    path(
        "password/set/<uidb64>/<token>/",
        auth_views.PasswordResetConfirmView.as_view(success_url="/password/set/done/"),
        name="password-reset-confirm",
    ),
    path(
        "password/set/done/", auth_views.PasswordResetCompleteView.as_view(), name="password_reset_complete"
    ),
    path("api/v1/", include("portal.api.urls")),
    path("api/v1/", include("integrations.api.urls")),
    path("api/v1/", include("pacs.api.urls")),
    path("api/v1/", include("notifications.api.urls")),
    path("", include("diagnosis.urls")),
    path("", include("reading.urls")),
    path("", include("audit.urls")),
    path("", include("modelops.urls")),
    path("", include("integrations.urls")),
    path("", include("pacs.urls")),
    path("", include("notifications.urls")),
    path("django-admin/", admin.site.urls),
]

# JSON error bodies under /api/ (no HTML error page leaks to API clients); pages elsewhere.
handler400 = "portal.http_errors.bad_request"
handler403 = "portal.http_errors.permission_denied"
handler404 = "portal.http_errors.not_found"
handler500 = "portal.http_errors.server_error"
