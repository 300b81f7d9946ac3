"""The provider's endpoints: configured one by one, or discovered from the issuer and cached.

Discovery happens on the first sign-in, never at start-up or import, so Airspace starts (and local
break-glass login works) while the identity provider is unreachable.
"""

from __future__ import annotations

import threading
import time
from typing import Any

import requests
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

# mozilla-django-oidc setting -> discovery document field.
ENDPOINT_FIELDS = {
    "OIDC_OP_AUTHORIZATION_ENDPOINT": "authorization_endpoint",
    "OIDC_OP_TOKEN_ENDPOINT": "token_endpoint",
    "OIDC_OP_USER_ENDPOINT": "userinfo_endpoint",
    "OIDC_OP_JWKS_ENDPOINT": "jwks_uri",
}
CACHE_SECONDS = 3600

_lock = threading.Lock()
_cache: dict[str, tuple[float, dict[str, Any]]] = {}


def discovery_document(issuer: str) -> dict[str, Any]:
    """`{issuer}/.well-known/openid-configuration`, fetched at most once an hour per process."""
    with _lock:
        hit = _cache.get(issuer)
        if hit and time.monotonic() - hit[0] < CACHE_SECONDS:
            return hit[1]
    response = requests.get(
        f"{issuer}/.well-known/openid-configuration",
        timeout=settings.OIDC_TIMEOUT,
        verify=settings.OIDC_VERIFY_SSL,
    )
    response.raise_for_status()
    document = response.json()
    # OIDC Discovery 1.0 section 4.3: the document must name the issuer it was fetched from.
    if str(document.get("issuer", "")).rstrip("/") != issuer:
        raise ImproperlyConfigured(f"the discovery document names issuer {document.get('issuer')!r}")
    with _lock:
        _cache[issuer] = (time.monotonic(), document)
    return document


def forget_discovery() -> None:
    """Drop cached documents (tests, or after the provider's configuration changed)."""
    with _lock:
        _cache.clear()


def endpoint(name: str) -> str | None:
    """One of the four endpoints: the explicit setting if given, else the discovered value."""
    explicit = getattr(settings, name, "")
    if explicit:
        return explicit
    issuer = settings.AIRSPACE_OIDC_ISSUER.rstrip("/")
    if not issuer:
        return None
    return discovery_document(issuer).get(ENDPOINT_FIELDS[name]) or None
