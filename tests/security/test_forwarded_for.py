"""Finding 7 (#17): rate limits and lockouts key on the real client address, never on a header it sends.

X-Forwarded-For is believed only when the peer (REMOTE_ADDR) is a configured proxy
(AIRSPACE_TRUSTED_PROXIES), and then only up to the first address that is not a trusted proxy. The DRF
throttle, axes' lockout and the audit trail resolve the address the same way; the login form also gets a
per-address failure limit, so one password cannot be sprayed across usernames from one address.
"""

from __future__ import annotations

from typing import Any

import pytest
from django.core.cache import cache
from django.test import Client, RequestFactory
from rest_framework.test import APIClient

from audit.models import AuditEvent
from portal.addresses import client_ip

pytestmark = pytest.mark.django_db
PASSWORD = "correct-horse-battery"
GOOD = {"username": "alice", "password": PASSWORD}


@pytest.fixture
def slow_rate(settings: Any) -> None:
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": {"auth": "3/min"}}
    cache.clear()


def token(client: APIClient, remote: str, forwarded: str | None = None) -> int:
    extra = {"REMOTE_ADDR": remote} | ({"HTTP_X_FORWARDED_FOR": forwarded} if forwarded else {})
    return client.post("/api/v1/auth/token/", GOOD, **extra).status_code


def test_a_spoofed_forwarded_for_does_not_reset_the_token_throttle(alice: Any, slow_rate: None) -> None:
    client = APIClient()
    assert [token(client, "203.0.113.9") for _ in range(3)] == [200, 200, 200]
    spoofed = [token(client, "203.0.113.9", f"198.51.100.{i}") for i in range(3)]
    assert spoofed == [429, 429, 429]


def test_behind_a_trusted_proxy_each_client_has_its_own_budget(
    alice: Any, slow_rate: None, settings: Any
) -> None:
    settings.AIRSPACE_TRUSTED_PROXIES = ["10.0.0.0/8"]
    client = APIClient()
    proxy = "10.1.2.3"
    assert [token(client, proxy, "198.51.100.7") for _ in range(3)] == [200, 200, 200]
    assert token(client, proxy, "198.51.100.7") == 429
    # A client prepending a fake address to its own is still keyed on what the proxy saw.
    assert token(client, proxy, "192.0.2.1, 198.51.100.7") == 429
    assert token(client, proxy, "198.51.100.8") == 200


@pytest.mark.parametrize(
    ("remote", "forwarded", "expected"),
    [
        ("203.0.113.9", "1.2.3.4", "203.0.113.9"),  # untrusted peer: header ignored
        ("10.0.0.1", "1.2.3.4", "1.2.3.4"),
        ("10.0.0.1", "6.6.6.6, 1.2.3.4", "1.2.3.4"),  # the client wrote 6.6.6.6 itself
        ("10.0.0.1", "1.2.3.4, 10.0.0.2", "1.2.3.4"),  # two proxy hops
        ("10.0.0.1", "not-an-ip", "10.0.0.1"),
        ("10.0.0.1", "", "10.0.0.1"),
    ],
)
def test_client_ip_resolution(remote: str, forwarded: str, expected: str, settings: Any) -> None:
    settings.AIRSPACE_TRUSTED_PROXIES = ["10.0.0.0/24"]
    request = RequestFactory().get("/", REMOTE_ADDR=remote, HTTP_X_FORWARDED_FOR=forwarded)
    assert client_ip(request) == expected


def login(client: Client, username: str, password: str, remote: str, forwarded: str | None = None) -> int:
    extra = {"REMOTE_ADDR": remote} | ({"HTTP_X_FORWARDED_FOR": forwarded} if forwarded else {})
    return client.post("/login/", {"username": username, "password": password}, **extra).status_code


def test_one_password_sprayed_across_usernames_is_locked_out_per_address(alice: Any, bob: Any) -> None:
    client = Client()
    codes = [login(client, f"user{i}", "Spring2026!", "203.0.113.50") for i in range(11)]
    assert codes[:10] == [200] * 10 and codes[10] == 429
    # The address is locked for everyone; the same users from another address are not.
    assert login(client, "bob", PASSWORD, "203.0.113.50") == 429
    assert login(client, "bob", PASSWORD, "203.0.113.51") == 302


def test_a_sprayer_cannot_escape_the_lockout_with_forwarded_for(alice: Any) -> None:
    client = Client()
    codes = [login(client, f"user{i}", "Spring2026!", "203.0.113.60", f"192.0.2.{i}") for i in range(12)]
    assert codes[10:] == [429, 429]


def test_behind_a_trusted_proxy_the_lockout_and_audit_use_the_client_address(
    alice: Any, settings: Any
) -> None:
    settings.AIRSPACE_TRUSTED_PROXIES = ["10.0.0.1"]
    client = Client()
    codes = [login(client, f"user{i}", "Spring2026!", "10.0.0.1", "198.51.100.20") for i in range(11)]
    assert codes[10] == 429
    # Another client behind the same proxy is not locked out, and its sign-in is audited with its address.
    assert login(client, "alice", PASSWORD, "10.0.0.1", "198.51.100.21") == 302
    assert AuditEvent.objects.get(action="auth.login").ip == "198.51.100.21"
    assert set(AuditEvent.objects.filter(action="auth.login_failed").values_list("ip", flat=True)) == {
        "198.51.100.20"
    }
