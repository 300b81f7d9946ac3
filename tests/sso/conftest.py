"""SSO fixtures: a real OpenID Connect provider process, Airspace configured to trust it, a login helper."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urljoin, urlsplit

import pytest
import requests

from tests.fixtures.oidc_provider.process import PASSWORD, Provider, oidc_provider

# Provider users: the group names are the provider's (Keycloak group / Entra group), not Airspace roles.
PROVIDER_USERS = [
    {"username": "rita", "groups": ["airspace-radiologists"], "first_name": "Rita", "email": "rita@idp.test"},
    {"username": "cleo", "groups": ["airspace-clinicians", "ward-paediatrics"], "email": "cleo@idp.test"},
    {"username": "nora", "groups": ["library-staff"], "email": "nora@idp.test"},
    # Same name as a local break-glass account: must never be signed in as it.
    {"username": "root-admin", "groups": ["airspace-clinicians"], "email": "impostor@idp.test"},
]
ROLE_MAP = "airspace-radiologists=radiologist,airspace-clinicians=clinician,airspace-admins=admin"
DEPARTMENT_MAP = "ward-paediatrics=Paediatrics"


@pytest.fixture(scope="module")
def provider() -> Iterator[Provider]:
    """The provider, for Django's test client (redirect URI on http://testserver)."""
    with oidc_provider(users=PROVIDER_USERS, redirect_uris=["http://testserver/oidc/callback/"]) as running:
        yield running


def configure_sso(settings: Any, provider: Provider, **overrides: str) -> None:
    """Point Airspace at the provider through the same settings the environment variables fill."""
    from sso.discovery import forget_discovery

    settings.AIRSPACE_OIDC_ISSUER = provider.issuer
    settings.OIDC_RP_CLIENT_ID = provider.client_id
    settings.OIDC_RP_CLIENT_SECRET = provider.client_secret
    settings.AIRSPACE_OIDC_PROVIDER_NAME = "Test IdP"
    settings.AIRSPACE_OIDC_ROLE_MAP = ROLE_MAP
    settings.AIRSPACE_OIDC_DEPARTMENT_MAP = DEPARTMENT_MAP
    for name, value in overrides.items():
        setattr(settings, name, value)
    forget_discovery()


@pytest.fixture
def sso_on(settings: Any, provider: Provider) -> Provider:
    """Airspace with single sign-on configured for the running provider."""
    configure_sso(settings, provider)
    return provider


def provider_login(client: Any, username: str, start: str = "/oidc/authenticate/") -> Any:
    """Sign in through the provider as a browser would, following each redirect by hand.

    Django's test client plays Airspace's side (it holds Airspace's session); `requests` plays the
    browser at the provider. Returns Airspace's answer to the callback.
    """
    begun = client.get(start)
    assert begun.status_code == 302, begun
    browser = requests.Session()
    url = begun["Location"]
    for _ in range(10):
        if url.startswith("http://testserver/"):
            callback = urlsplit(url)
            return client.get(f"{callback.path}?{callback.query}")
        response = browser.get(url, allow_redirects=False, timeout=20)
        if response.status_code == 200 and 'name="password"' in response.text:  # the provider's login form
            response = browser.post(
                response.url,
                data={
                    "username": username,
                    "password": PASSWORD,
                    "next": _next_of(response.url),
                    "csrfmiddlewaretoken": browser.cookies["idp_csrftoken"],
                },
                allow_redirects=False,
                timeout=20,
            )
        assert response.status_code == 302, (response.status_code, response.text[:500])
        url = urljoin(response.url, response.headers["Location"])
    raise AssertionError("the provider never redirected back to Airspace")


def _next_of(url: str) -> str:
    return parse_qs(urlsplit(url).query).get("next", [""])[0]
