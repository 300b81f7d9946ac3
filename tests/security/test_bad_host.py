"""Finding 8 (#17): a forged Host header is a 400 on every kind of path, never a 500 with a traceback."""

from __future__ import annotations

import pytest
from django.test import Client

pytestmark = pytest.mark.django_db

PATHS = ["/", "/login/", "/studies/", "/worklist/", "/no-such-page/", "/api/v1/studies/", "/healthz"]


@pytest.mark.parametrize("path", PATHS)
def test_a_forged_host_header_is_a_plain_400(path):
    # The default test client re-raises any exception a view or error handler raises: a crash fails here.
    response = Client().get(path, HTTP_HOST="evil.example")
    assert response.status_code == 400
    assert b"Traceback" not in response.content and b"evil.example" not in response.content


def test_a_forged_host_on_a_signed_in_session_is_a_400_too(alice):
    client = Client()
    client.force_login(alice)
    response = client.get("/studies/", HTTP_HOST="evil.example")
    assert response.status_code == 400 and b"alice" not in response.content
