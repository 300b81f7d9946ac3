"""Production settings: `check --deploy` is clean, and the portal refuses to start without each secret."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.conftest import ROOT

SECRETS = {
    "DJANGO_SECRET_KEY": "k" * 20 + "-a-long-random-production-secret-key-0123456789",
    "DJANGO_ALLOWED_HOSTS": "airspace.hospital.example",
    "DATABASE_URL": "postgres://airspace@db.hospital.example:5432/airspace",
    "AIRSPACE_AUDIT_HMAC_KEY": "an-audit-anchor-key-kept-outside-the-database",
}


def manage(*args: str, drop: str | None = None) -> subprocess.CompletedProcess[str]:
    """Run manage.py under portal.settings.prod with the production secrets (minus `drop`)."""
    env = {k: v for k, v in os.environ.items() if k not in SECRETS and not k.startswith("DJANGO_")}
    env.update({k: v for k, v in SECRETS.items() if k != drop})
    env["DJANGO_SETTINGS_MODULE"] = "portal.settings.prod"
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )


def test_check_deploy_reports_nothing():
    result = manage("check", "--deploy", "--fail-level", "WARNING")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues (0 silenced)." in result.stdout


@pytest.mark.parametrize("secret", sorted(SECRETS))
def test_prod_refuses_to_start_without_each_secret(secret):
    result = manage("check", drop=secret)
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr and secret in result.stderr.splitlines()[-1]


def test_prod_cookies_and_transport_are_secure(monkeypatch):
    """Secure session/CSRF cookies, HSTS and the HTTPS redirect, read from the module itself."""
    for name, value in SECRETS.items():
        monkeypatch.setenv(name, value)
    code = (
        "import portal.settings.prod as s;"
        "print(s.SESSION_COOKIE_SECURE, s.CSRF_COOKIE_SECURE, s.SECURE_SSL_REDIRECT, s.SECURE_HSTS_SECONDS > 0,"
        " s.DEBUG, s.SESSION_COOKIE_HTTPONLY)"
    )
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "portal.settings.prod"}
    env.pop("DJANGO_DEBUG", None)
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True)
    assert out.stdout.split() == ["True", "True", "True", "True", "False", "True"], out.stderr
