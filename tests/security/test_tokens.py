"""Finding 5 (#17): API tokens expire, can be revoked, and are stored only as hashes.

Contract kept: POST /api/v1/auth/token/ takes username and password and answers {"token": ...};
POST /api/v1/auth/logout/ revokes the calling token; a password change or deactivation revokes all of a
user's tokens; tokens expire after AIRSPACE_TOKEN_TTL_HOURS (default 10). Revoked or expired: 401.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.apps import apps
from django.contrib.auth.models import User
from django.db import connection
from django.test import Client
from django.utils import timezone
from rest_framework.test import APIClient

from audit.models import AuditEvent

pytestmark = pytest.mark.django_db
PASSWORD = "correct-horse-battery"


def issue(username: str = "alice") -> str:
    response = APIClient().post("/api/v1/auth/token/", {"username": username, "password": PASSWORD})
    assert response.status_code == 200, response.content
    assert "token" in response.json()
    return response.json()["token"]


def status_with(token: str) -> int:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    return client.get("/api/v1/studies/").status_code


def all_database_text() -> str:
    """Every text value of every table: a clear-text token must be in none of them."""
    chunks = []
    for model in apps.get_models():
        for row in model.objects.values_list():
            chunks.append(" ".join(str(value) for value in row))
    return "\n".join(chunks)


def test_the_token_is_stored_only_as_a_hash(alice: Any) -> None:
    token = issue()
    assert status_with(token) == 200
    text = all_database_text()
    assert token not in text and token[-32:] not in text
    tables = connection.introspection.table_names()
    assert "authtoken_token" not in tables  # DRF's clear-text token table is gone


def test_logout_revokes_the_calling_token_only(alice: Any) -> None:
    first, second = issue(), issue()
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {first}")
    response = client.post("/api/v1/auth/logout/")
    assert response.status_code == 204
    assert status_with(first) == 401 and status_with(second) == 200
    again = client.post("/api/v1/auth/logout/")
    assert again.status_code == 401 and again.json()["error"]["code"] == "authentication_failed"
    assert AuditEvent.objects.filter(action="auth.token_revoked", actor=alice).count() == 1


def test_a_password_change_revokes_every_token(alice: Any) -> None:
    tokens = [issue(), issue()]
    alice.set_password("a-brand-new-passphrase")
    alice.save()
    assert [status_with(t) for t in tokens] == [401, 401]
    event = AuditEvent.objects.get(action="auth.tokens_revoked", object_id=str(alice.pk))
    assert event.after == {"revoked": 2} and "password" in event.reason


def test_deactivation_revokes_every_token(alice: Any) -> None:
    token = issue()
    alice.is_active = False
    alice.save()
    alice.is_active = True  # even re-activated, the old token stays dead
    alice.save()
    assert status_with(token) == 401


def test_tokens_expire_after_the_configured_ttl(alice: Any, settings: Any) -> None:
    assert settings.AIRSPACE_TOKEN_TTL_HOURS == 10
    before = timezone.now()
    token = issue()
    model = apps.get_model("knox", "AuthToken")
    row = model.objects.get(user=alice)
    assert dt.timedelta(hours=10) <= row.expiry - before < dt.timedelta(hours=10, minutes=1)
    model.objects.filter(pk=row.pk).update(expiry=timezone.now() - dt.timedelta(seconds=1))
    assert status_with(token) == 401


def test_the_admin_shows_no_token_secret_and_can_revoke(alice: Any) -> None:
    token = issue()
    client = Client()
    client.force_login(User.objects.create_superuser("root", password=PASSWORD))
    listing = client.get("/django-admin/knox/authtoken/")
    assert listing.status_code == 200 and b"alice" in listing.content
    model = apps.get_model("knox", "AuthToken")
    row = model.objects.get(user=alice)
    # The token and its clear prefix are nowhere; the digest (one-way SHA-512, useless as a credential)
    # is only the row key the revoke action posts back, and there is no detail page titled with it.
    for secret in (token, token[:15]):
        assert secret.encode() not in listing.content
    assert client.get(f"/django-admin/knox/authtoken/{row.pk}/change/").status_code in (302, 403)
    # The user admin's action revokes all of a user's tokens.
    response = client.post(
        "/django-admin/auth/user/", {"action": "revoke_api_tokens", "_selected_action": [alice.pk]}
    )
    assert response.status_code == 302
    assert status_with(token) == 401 and not model.objects.filter(user=alice).exists()
    event = AuditEvent.objects.get(action="auth.tokens_revoked", object_id=str(alice.pk))
    assert event.actor_username == "root" and event.reason == "revoked by an administrator"


def test_one_token_can_be_revoked_from_the_token_list(alice: Any) -> None:
    token = issue()
    client = Client()
    client.force_login(User.objects.create_superuser("root", password=PASSWORD))
    row = apps.get_model("knox", "AuthToken").objects.get(user=alice)
    response = client.post(
        "/django-admin/knox/authtoken/", {"action": "revoke", "_selected_action": [row.pk]}
    )
    assert response.status_code == 302 and status_with(token) == 401
    assert AuditEvent.objects.filter(action="auth.token_revoked", object_id=str(alice.pk)).count() == 1
