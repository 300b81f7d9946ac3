"""The login page (password form per policy, "Sign in with <provider>") and the OIDC redirect views."""

from __future__ import annotations

import logging
from typing import Any

import requests
from django.conf import settings
from django.contrib.auth import views as auth_views
from django.core.exceptions import ImproperlyConfigured
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from mozilla_django_oidc import views as oidc_views

from sso.backends import oidc_setting
from sso.config import local_login_policy, sso_enabled, sso_settings

logger = logging.getLogger(__name__)


class LoginView(auth_views.LoginView):
    """Django's login view, told whether to offer SSO and the password form."""

    redirect_authenticated_user = True

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        """Add `sso_provider` (None when SSO is off), `password_login` and the SSO failure flag."""
        context = super().get_context_data(**kwargs)
        enabled = sso_enabled()
        context["sso_provider"] = sso_settings().provider_name if enabled else None
        policy = local_login_policy()
        # With SSO off the password form always shows: `off` without SSO would lock everyone out.
        context["password_login"] = policy != "off" or not enabled
        context["password_admins_only"] = enabled and policy == "admins"
        context["sso_failed"] = self.request.GET.get("sso") == "failed"
        return context


class OidcAuthenticateView(oidc_views.OIDCAuthenticationRequestView):
    """Redirects to the provider with state, nonce and a PKCE challenge (404 while SSO is off)."""

    get_settings = staticmethod(oidc_setting)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        # The library reads the endpoint here; resolve it per request instead (discovery may be needed).
        super(oidc_views.OIDCAuthenticationRequestView, self).__init__(*args, **kwargs)

    def get(self, request: HttpRequest) -> HttpResponse:
        """Start the authorization-code flow."""
        if not sso_enabled():
            raise Http404("single sign-on is not configured")
        try:
            self.OIDC_OP_AUTH_ENDPOINT = oidc_setting("OIDC_OP_AUTHORIZATION_ENDPOINT")
        except (requests.RequestException, ImproperlyConfigured, ValueError) as exc:
            # Discovery failed (provider down, wrong issuer): say so on the login page, not with a 500.
            logger.warning("single sign-on unavailable: %s", exc)
            return HttpResponseRedirect(settings.LOGIN_REDIRECT_URL_FAILURE)
        self.OIDC_RP_CLIENT_ID = oidc_setting("OIDC_RP_CLIENT_ID")
        return super().get(request)


class OidcCallbackView(oidc_views.OIDCAuthenticationCallbackView):
    """Checks state, exchanges the code, verifies the ID token and signs the user in (404 while SSO is off)."""

    get_settings = staticmethod(oidc_setting)

    def get(self, request: HttpRequest) -> HttpResponse:
        """Finish the authorization-code flow."""
        if not sso_enabled():
            raise Http404("single sign-on is not configured")
        return super().get(request)
