"""Production: refuses to start without its secrets; secure cookies, HSTS, HTTPS redirect."""

from __future__ import annotations

import os

from django.core.exceptions import ImproperlyConfigured

from portal.settings.base import *  # noqa: F403

_REQUIRED = ("DJANGO_SECRET_KEY", "DJANGO_ALLOWED_HOSTS", "DATABASE_URL", "AIRSPACE_AUDIT_HMAC_KEY")
_missing = [name for name in _REQUIRED if not os.environ.get(name)]
if _missing:
    raise ImproperlyConfigured(f"Production settings need these environment variables: {', '.join(_missing)}")

DEBUG = False
SECRET_KEY = os.environ["DJANGO_SECRET_KEY"]
AIRSPACE_AUDIT_HMAC_KEY = os.environ["AIRSPACE_AUDIT_HMAC_KEY"]
SESSION_COOKIE_SECURE = True
CSRF_COOKIE_SECURE = True
CSRF_COOKIE_HTTPONLY = True
SECURE_SSL_REDIRECT = env_bool("DJANGO_SECURE_SSL_REDIRECT", True)  # noqa: F405
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_HSTS_SECONDS = env_int("DJANGO_HSTS_SECONDS", 31536000)  # noqa: F405
SECURE_HSTS_INCLUDE_SUBDOMAINS = True
SECURE_HSTS_PRELOAD = True
CSRF_TRUSTED_ORIGINS = [o for o in os.environ.get("DJANGO_CSRF_TRUSTED_ORIGINS", "").split(",") if o]
# The schema and Swagger UI list every endpoint and parameter: only for signed-in users in production (#17).
SPECTACULAR_SETTINGS = {
    **SPECTACULAR_SETTINGS,  # noqa: F405
    "SERVE_PERMISSIONS": ["rest_framework.permissions.IsAuthenticated"],
}

# Single sign-on: a confidential client needs its secret, and the provider must be reached over HTTPS.
if os.environ.get("AIRSPACE_OIDC_CLIENT_ID"):
    if not os.environ.get("AIRSPACE_OIDC_CLIENT_SECRET"):
        raise ImproperlyConfigured("AIRSPACE_OIDC_CLIENT_ID is set but AIRSPACE_OIDC_CLIENT_SECRET is not")
    _oidc_urls = [
        os.environ.get(name, "")
        for name in (
            "AIRSPACE_OIDC_ISSUER",
            "AIRSPACE_OIDC_AUTHORIZATION_ENDPOINT",
            "AIRSPACE_OIDC_TOKEN_ENDPOINT",
        )
    ]
    if any(url and not url.startswith("https://") for url in _oidc_urls):
        raise ImproperlyConfigured(
            "The OpenID Connect issuer and endpoints must be https:// URLs in production"
        )
elif AIRSPACE_LOCAL_LOGIN == "off":  # noqa: F405
    raise ImproperlyConfigured("AIRSPACE_LOCAL_LOGIN=off needs single sign-on (AIRSPACE_OIDC_CLIENT_ID)")

# Email: SMTP when a server is named, none otherwise; never the console (it would log patient links).
if os.environ.get("AIRSPACE_EMAIL_BACKEND") or os.environ.get("AIRSPACE_EMAIL_FILE_PATH"):
    raise ImproperlyConfigured(
        "AIRSPACE_EMAIL_BACKEND is for development: production sets AIRSPACE_EMAIL_HOST"
    )
_email_host = os.environ.get("AIRSPACE_EMAIL_HOST", "")
AIRSPACE_EMAIL_ENABLED = bool(_email_host)
MAILERS = {"default": {"BACKEND": "portal.mail.NoMailServerBackend"}}
if _email_host:
    _email = {
        "host": _email_host,
        "port": env_int("AIRSPACE_EMAIL_PORT", 587),  # noqa: F405
        "username": os.environ.get("AIRSPACE_EMAIL_USER", ""),
        "password": os.environ.get("AIRSPACE_EMAIL_PASSWORD", ""),
        "use_tls": env_bool("AIRSPACE_EMAIL_TLS", True),  # noqa: F405
        "use_ssl": env_bool("AIRSPACE_EMAIL_SSL", False),  # noqa: F405
        "timeout": env_int("AIRSPACE_EMAIL_TIMEOUT", 10),  # noqa: F405
    }
    _email_problems = [
        "AIRSPACE_EMAIL_TLS and AIRSPACE_EMAIL_SSL are both on (choose one)"
        if _email["use_tls"] and _email["use_ssl"]
        else "",
        "AIRSPACE_EMAIL_USER is set without AIRSPACE_EMAIL_PASSWORD"
        if _email["username"] and not _email["password"]
        else "",
        "neither TLS nor SSL is on: the password would cross the network in clear"
        if _email["username"] and not (_email["use_tls"] or _email["use_ssl"])
        else "",
        "AIRSPACE_EMAIL_FROM is not set" if not os.environ.get("AIRSPACE_EMAIL_FROM") else "",
        "AIRSPACE_PUBLIC_URL must be the portal's https:// address (links in emails)"
        if not os.environ.get("AIRSPACE_PUBLIC_URL", "").startswith("https://")
        else "",
    ]
    if any(_email_problems):
        raise ImproperlyConfigured("Email: " + "; ".join(p for p in _email_problems if p))
    MAILERS = {"default": {"BACKEND": "django.core.mail.backends.smtp.EmailBackend", "OPTIONS": _email}}
