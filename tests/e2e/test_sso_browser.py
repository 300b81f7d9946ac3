"""Single sign-on in Chromium: the real redirect to a real OpenID Connect provider process and back.

Rita is in the provider's `airspace-radiologists` group. She opens Airspace, picks "Sign in with Test IdP",
signs in at the provider (django-oauth-toolkit on its own loopback port and SQLite database) and lands in
Airspace as a radiologist who sees the worklist; the audit trail holds her single sign-on login.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from django.contrib.auth.models import User

from audit.models import AuditEvent
from tests.e2e.conftest import shot
from tests.e2e.test_accessibility import axe_violations
from tests.fixtures.oidc_provider.process import PASSWORD, Provider, oidc_provider
from tests.sso.conftest import PROVIDER_USERS, configure_sso

pytestmark = [pytest.mark.browser, pytest.mark.slow]


@pytest.fixture
def browser_provider(live_server: Any, settings: Any) -> Iterator[Provider]:
    """The provider, with Airspace's live server registered as the redirect URI, and Airspace trusting it."""
    with oidc_provider(users=PROVIDER_USERS, redirect_uris=[f"{live_server.url}/oidc/callback/"]) as provider:
        configure_sso(settings, provider, AIRSPACE_LOCAL_LOGIN="admins")
        yield provider


def test_radiologist_signs_in_through_the_provider_and_lands_on_the_worklist(
    browser_provider: Provider, page: Any
) -> None:
    page.goto("/")
    page.wait_for_url(re.compile(r"/login/"))
    assert page.get_by_role("heading", name="Break-glass administrator login").is_visible()
    shot(page, "sso-01-login-page")
    page.get_by_role("link", name="Sign in with Test IdP").click()
    # The browser is now at the provider (another origin), on its own login form.
    page.wait_for_url(re.compile(r"^http://127\.0\.0\.1:\d+/accounts/login/"))
    page.get_by_label("IdP username").fill("rita")
    page.get_by_label("IdP password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in to the identity provider").click()
    # Provider -> /oidc/callback/ (code exchange, ID token checks) -> Airspace's home page, signed in.
    page.wait_for_url(re.compile(r"^http://localhost:\d+/(?!login|oidc)"))
    page.goto("/worklist/")
    assert page.get_by_role("heading", name=re.compile("Worklist", re.I)).first.is_visible()
    shot(page, "sso-02-radiologist-worklist")
    assert page.js_errors == []

    rita = User.objects.get(sso_identity__issuer=browser_provider.issuer, username="rita")
    assert set(rita.groups.values_list("name", flat=True)) == {"radiologist"}
    login = AuditEvent.objects.get(action="auth.login", actor=rita)
    assert login.reason == "single sign-on" and login.ip == "127.0.0.1"


@pytest.mark.parametrize("policy", ["admins", "off"])
def test_sso_login_page_has_no_serious_accessibility_violations(
    page: Any, live_server: Any, settings: Any, policy: str
) -> None:
    """The login page with the SSO button (and the break-glass form, or none) passes axe's WCAG 2 AA rules."""
    provider = Provider(issuer="https://idp.hospital.example/realms/hospital")  # never contacted here
    configure_sso(settings, provider, AIRSPACE_LOCAL_LOGIN=policy)
    context = page.context.browser.new_context(base_url=live_server.url, bypass_csp=True)
    try:
        tab = context.new_page()
        tab.goto("/login/")
        assert tab.get_by_role("link", name="Sign in with Test IdP").is_visible()
        assert tab.get_by_label("Password").count() == (1 if policy == "admins" else 0)
        assert axe_violations(tab) == []
    finally:
        context.close()
