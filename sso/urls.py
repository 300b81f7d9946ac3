"""SSO routes under /oidc/ (the redirect URI to register at the provider is /oidc/callback/)."""

from __future__ import annotations

from django.urls import path

from sso import views

urlpatterns = [
    path("authenticate/", views.OidcAuthenticateView.as_view(), name="oidc_authentication_init"),
    path("callback/", views.OidcCallbackView.as_view(), name="oidc_authentication_callback"),
]
