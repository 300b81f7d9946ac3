"""Break-glass: AIRSPACE_LOCAL_LOGIN=all|admins|off, the login page, SSO off, and production's refusals."""

from __future__ import annotations

import os
import subprocess
import sys
from typing import Any

import pytest
from django.test import Client

from audit.models import AuditEvent
from tests.conftest import ROOT

PASSWORD = "correct-horse-battery"


def sso_configured(settings: Any, policy: str) -> None:
    """SSO looks configured (no provider is contacted by these tests) with the given password policy."""
    settings.AIRSPACE_OIDC_ISSUER = "https://idp.hospital.example/realms/airspace"
    settings.OIDC_RP_CLIENT_ID = "airspace"
    settings.OIDC_RP_CLIENT_SECRET = "secret"
    settings.AIRSPACE_OIDC_PROVIDER_NAME = "Hospital Keycloak"
    settings.AIRSPACE_LOCAL_LOGIN = policy


def password_login(username: str) -> Client:
    client = Client()
    client.post("/login/", {"username": username, "password": PASSWORD})
    return client


def logged_in(client: Client) -> bool:
    return "_auth_user_id" in client.session


@pytest.mark.django_db
def test_admins_policy_keeps_break_glass_admins_and_refuses_everyone_else(
    settings: Any, alice: Any, carol: Any, admin_user: Any
) -> None:
    sso_configured(settings, "admins")
    assert logged_in(password_login("root-admin"))
    for user in (alice, carol):
        client = password_login(user.username)
        assert not logged_in(client)
        assert AuditEvent.objects.filter(action="auth.login_failed", object_id=user.username).exists()
    page = Client().get("/login/").content.decode()
    assert "Sign in with Hospital Keycloak" in page and "Break-glass administrator login" in page


@pytest.mark.django_db
def test_admins_policy_refuses_api_tokens_for_non_admins(settings: Any, alice: Any, admin_user: Any) -> None:
    sso_configured(settings, "admins")
    api = Client()
    refused = api.post("/api/v1/auth/token/", {"username": "alice", "password": PASSWORD})
    assert refused.status_code == 400 and refused.json()["error"]["code"] == "invalid_credentials"
    granted = api.post("/api/v1/auth/token/", {"username": "root-admin", "password": PASSWORD})
    assert granted.status_code == 200 and granted.json()["token"]


@pytest.mark.django_db
def test_off_policy_refuses_every_password_and_hides_the_form(settings: Any, admin_user: Any) -> None:
    sso_configured(settings, "off")
    assert not logged_in(password_login("root-admin"))
    page = Client().get("/login/").content.decode()
    assert "Sign in with Hospital Keycloak" in page and 'name="password"' not in page


@pytest.mark.django_db
def test_existing_password_session_ends_when_the_policy_excludes_it(settings: Any, carol: Any) -> None:
    client = password_login("carol")
    assert client.get("/worklist/").status_code == 200
    settings.AIRSPACE_LOCAL_LOGIN = "admins"
    assert client.get("/worklist/").status_code == 302  # back to the login page


@pytest.mark.django_db
def test_sso_off_by_default_password_login_unchanged(alice: Any) -> None:
    page = Client().get("/login/").content.decode()
    assert "Sign in with" not in page and 'name="password"' in page
    assert Client().get("/oidc/authenticate/").status_code == 404
    assert Client().get("/oidc/callback/?code=a&state=b").status_code == 404
    assert logged_in(password_login("alice"))


def _import_prod(**env: str) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "AIRSPACE_OIDC_"))}
    base.update(
        DJANGO_SECRET_KEY="k" * 50,
        DJANGO_ALLOWED_HOSTS="airspace.hospital.example",
        DATABASE_URL="postgres://airspace@db.hospital.example:5432/airspace",
        AIRSPACE_AUDIT_HMAC_KEY="an-audit-anchor-key",
        **env,
    )
    return subprocess.run(
        [sys.executable, "-c", "import portal.settings.prod"],
        cwd=ROOT,
        env=base,
        capture_output=True,
        text=True,
    )


def test_production_refuses_sso_without_its_secret_or_over_http() -> None:
    issuer = "https://idp.hospital.example/realms/airspace"
    no_secret = _import_prod(AIRSPACE_OIDC_ISSUER=issuer, AIRSPACE_OIDC_CLIENT_ID="airspace")
    assert no_secret.returncode != 0 and "AIRSPACE_OIDC_CLIENT_SECRET" in no_secret.stderr
    plain_http = _import_prod(
        AIRSPACE_OIDC_ISSUER="http://idp.hospital.example",
        AIRSPACE_OIDC_CLIENT_ID="airspace",
        AIRSPACE_OIDC_CLIENT_SECRET="s",
    )
    assert plain_http.returncode != 0 and "https://" in plain_http.stderr
    assert (
        _import_prod(
            AIRSPACE_OIDC_ISSUER=issuer, AIRSPACE_OIDC_CLIENT_ID="airspace", AIRSPACE_OIDC_CLIENT_SECRET="s"
        ).returncode
        == 0
    )
    assert _import_prod(AIRSPACE_LOCAL_LOGIN="off").returncode != 0


@pytest.mark.django_db
def test_changing_the_sso_policy_is_audited_without_the_secret(settings: Any) -> None:
    from audit.services.settings_audit import settings_audit

    settings_audit()
    sso_configured(settings, "admins")
    settings.AIRSPACE_OIDC_ROLE_MAP = "/airspace/radiologists=radiologist"
    event = settings_audit()
    assert event is not None
    assert event.after["changed"] == {
        "AIRSPACE_LOCAL_LOGIN": "admins",
        "AIRSPACE_OIDC_ISSUER": "https://idp.hospital.example/realms/airspace",
        "AIRSPACE_OIDC_ROLE_MAP": "/airspace/radiologists=radiologist",
        "OIDC_RP_CLIENT_ID": "airspace",
    }
    assert "secret" not in str(event.after) and "secret" not in str(event.before)
