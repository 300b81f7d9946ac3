"""Authentication backends: the OpenID Connect one, and the local-password one with its policy."""

from __future__ import annotations

import logging
from typing import Any

import requests
from django.contrib.auth.backends import ModelBackend
from django.core.exceptions import ImproperlyConfigured, SuspiciousOperation
from mozilla_django_oidc.auth import OIDCAuthenticationBackend
from mozilla_django_oidc.utils import import_from_settings

from audit.services.events import AuditContext
from sso.config import sso_enabled, sso_settings
from sso.discovery import ENDPOINT_FIELDS, endpoint
from sso.local_login import password_signs_in

BACKEND_PATH = "sso.backends.OidcBackend"
logger = logging.getLogger(__name__)


def oidc_setting(attr: str, *default: Any) -> Any:
    """mozilla-django-oidc's setting reader, with the provider endpoints resolved by discovery."""
    if attr in ENDPOINT_FIELDS:
        return endpoint(attr)
    return import_from_settings(attr, *default)


class OidcBackend(OIDCAuthenticationBackend):
    """Authorization-code flow (state, nonce, PKCE) with the library; users matched by (issuer, sub).

    The endpoints are resolved lazily: the backend is also built for every request of a signed-in
    SSO user (to load the user), which must not depend on the provider being up.
    """

    get_settings = staticmethod(oidc_setting)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        from django.contrib.auth import get_user_model

        self.UserModel = get_user_model()
        self.OIDC_RP_CLIENT_ID = oidc_setting("OIDC_RP_CLIENT_ID", "")
        self.OIDC_RP_CLIENT_SECRET = oidc_setting("OIDC_RP_CLIENT_SECRET", "")
        self.OIDC_RP_SIGN_ALGO = oidc_setting("OIDC_RP_SIGN_ALGO", "RS256")
        self.OIDC_RP_IDP_SIGN_KEY = oidc_setting("OIDC_RP_IDP_SIGN_KEY", None)

    @property
    def OIDC_OP_TOKEN_ENDPOINT(self) -> str | None:
        return endpoint("OIDC_OP_TOKEN_ENDPOINT")

    @property
    def OIDC_OP_USER_ENDPOINT(self) -> str | None:
        return endpoint("OIDC_OP_USER_ENDPOINT")

    @property
    def OIDC_OP_JWKS_ENDPOINT(self) -> str | None:
        return endpoint("OIDC_OP_JWKS_ENDPOINT")

    def authenticate(self, request: Any, **kwargs: Any) -> Any:
        """Only the callback view, which has checked `state` and passes the nonce, may reach the provider.

        A password form or the API token endpoint also calls every backend; a `?code=&state=` on their
        URL must not start a token exchange that skipped the state check.
        """
        if not sso_enabled() or "nonce" not in kwargs:
            return None
        try:
            return super().authenticate(request, **kwargs)
        except (requests.RequestException, SuspiciousOperation, ImproperlyConfigured) as exc:
            # A refused or replayed code, a bad token, an unreachable provider: a failed login (audited,
            # and the callback sends the browser back to the login page), not a server error.
            logger.warning("single sign-on failed: %s", exc)
            return None

    def verify_token(self, token: str, **kwargs: Any) -> dict[str, Any]:
        """The library checks signature, expiry and nonce; also check issuer and audience (OIDC Core 3.1.3.7)."""
        payload = super().verify_token(token, **kwargs)
        issuer = sso_settings().issuer
        if issuer and str(payload.get("iss", "")).rstrip("/") != issuer:
            raise SuspiciousOperation("ID token issuer does not match AIRSPACE_OIDC_ISSUER")
        audience = payload.get("aud")
        audiences = audience if isinstance(audience, list) else [audience]
        if self.OIDC_RP_CLIENT_ID not in audiences:
            raise SuspiciousOperation("ID token is not addressed to this client")
        return payload

    def get_userinfo(self, access_token: str, id_token: str, payload: dict[str, Any]) -> dict[str, Any]:
        """The ID token's claims, completed by the userinfo endpoint when the provider has one.

        Entra ID puts `groups`/`roles` in the ID token only; Keycloak in both. The userinfo `sub` must be
        the ID token's (OIDC Core 5.3.2).
        """
        claims = dict(payload)
        if self.OIDC_OP_USER_ENDPOINT and oidc_setting("AIRSPACE_OIDC_USE_USERINFO", True):
            userinfo = super().get_userinfo(access_token, id_token, payload)
            if str(userinfo.get("sub")) != str(payload.get("sub")):
                raise SuspiciousOperation("userinfo subject differs from the ID token's")
            claims.update(userinfo)
        return claims

    def get_or_create_user(self, access_token: str, id_token: str, payload: dict[str, Any]) -> Any:
        """Create or update the user and re-sync roles and department from the claims."""
        from sso.services import sso_user_sync

        claims = self.get_userinfo(access_token, id_token, payload)
        if not claims.get("sub"):
            raise SuspiciousOperation("the provider sent no subject")
        issuer = str(payload.get("iss") or sso_settings().issuer).rstrip("/")
        user, _ = sso_user_sync(
            issuer=issuer,
            claims=claims,
            config=sso_settings(),
            context=AuditContext.from_request(self.request),
        )
        return user

    def get_user(self, user_id: Any) -> Any:
        """Like ModelBackend: a deactivated user's session no longer loads them (the library skips this)."""
        user = super().get_user(user_id)
        return user if user is not None and user.is_active else None


class LocalPasswordBackend(ModelBackend):
    """Username + password, subject to AIRSPACE_LOCAL_LOGIN.

    `all`: everyone with a password; `admins`: only break-glass accounts (admin role or superuser);
    `off`: nobody. A refused attempt is a failed login (audited, and counted towards the lockout).
    """

    def user_can_authenticate(self, user: Any) -> bool:
        """Active, and allowed a password by the local-login policy."""
        return super().user_can_authenticate(user) and password_signs_in(user)
