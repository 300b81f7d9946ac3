"""Web defaults on real pages: security headers, a CSP without inline script, CSRF on every form."""

from __future__ import annotations

import re

import pytest
from django.test import Client

from audit.models import AuditEvent
from diagnosis.models import Study

pytestmark = pytest.mark.django_db
INLINE_SCRIPT = re.compile(rb"<script(?![^>]*\bsrc=)[^>]*>|\son[a-z]+\s*=|javascript:", re.IGNORECASE)


def assert_security_headers(response) -> None:
    csp = response["Content-Security-Policy"]
    directives = dict(d.strip().split(" ", 1) for d in csp.split(";") if d.strip())
    assert (
        directives["script-src"] == "'self'" and "'unsafe-inline'" not in csp and "'unsafe-eval'" not in csp
    )
    assert directives["default-src"] == "'self'" and directives["object-src"] == "'none'"
    assert directives["frame-ancestors"] == "'none'"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["X-Frame-Options"] == "DENY"
    assert response["Referrer-Policy"] == "same-origin"
    assert response["Cross-Origin-Opener-Policy"] == "same-origin"


def test_login_page_has_security_headers_and_no_inline_script(client):
    response = client.get("/login/")
    assert response.status_code == 200
    assert_security_headers(response)
    assert not INLINE_SCRIPT.search(response.content)


@pytest.mark.parametrize("path", ["/studies/", "/studies/new/"])
def test_clinician_pages_have_security_headers_and_no_inline_script(client, alice, path):
    client.force_login(alice)
    response = client.get(path)
    assert response.status_code == 200
    assert_security_headers(response)
    assert not INLINE_SCRIPT.search(response.content), INLINE_SCRIPT.search(response.content)


def test_api_answers_carry_the_headers_too(api, alice):
    api.force_authenticate(alice)
    response = api.get("/api/v1/studies/")
    assert response.status_code == 200
    assert response["X-Content-Type-Options"] == "nosniff" and response["X-Frame-Options"] == "DENY"


def test_login_form_without_csrf_token_is_refused(alice):
    client = Client(enforce_csrf_checks=True)
    response = client.post("/login/", {"username": "alice", "password": "correct-horse-battery"})
    assert response.status_code == 403
    assert "_auth_user_id" not in client.session
    assert not AuditEvent.objects.filter(action="auth.login").exists()


def test_login_form_with_its_csrf_token_works(alice):
    client = Client(enforce_csrf_checks=True)
    client.get("/login/")
    token = client.cookies["csrftoken"].value
    response = client.post(
        "/login/", {"username": "alice", "password": "correct-horse-battery", "csrfmiddlewaretoken": token}
    )
    assert response.status_code == 302 and client.session["_auth_user_id"] == str(alice.pk)


def test_upload_form_without_csrf_token_is_refused(alice, xray_bytes):
    from django.core.files.uploadedfile import SimpleUploadedFile

    client = Client(enforce_csrf_checks=True)
    client.force_login(alice)
    response = client.post(
        "/studies/new/", {"patient_mrn": "MRN-C1", "image": SimpleUploadedFile("x.jpg", xray_bytes)}
    )
    assert response.status_code == 403
    assert not Study.objects.exists()


def test_logout_needs_post_with_csrf(alice):
    client = Client(enforce_csrf_checks=True)
    client.force_login(alice)
    assert client.get("/logout/").status_code == 405
    assert client.post("/logout/").status_code == 403
    assert "_auth_user_id" in client.session


def test_session_authenticated_api_writes_need_csrf(alice, xray_bytes):
    from django.core.files.uploadedfile import SimpleUploadedFile

    client = Client(enforce_csrf_checks=True)
    client.force_login(alice)
    response = client.post(
        "/api/v1/studies/", {"patient_mrn": "MRN-C2", "image": SimpleUploadedFile("x.jpg", xray_bytes)}
    )
    assert response.status_code == 403 and "CSRF" in response.json()["error"]["message"]
    assert not Study.objects.exists()


def post_forms_without_token(html: str) -> list[str]:
    """The POST forms on a page that lack Django's CSRF token."""
    forms = re.findall(r"<form\b[^>]*>.*?</form>", html, flags=re.S | re.I)
    posting = [f for f in forms if re.search(r'method=["\']?post', f, flags=re.I)]
    return [f[:200] for f in posting if "csrfmiddlewaretoken" not in f]


def test_every_form_on_every_role_page_carries_a_csrf_token(client, alice, carol, admin_user):
    from tests.diagnosis.factories import completed_study

    study = completed_study(created_by=alice)
    pages = {
        alice: ["/studies/", "/studies/new/", f"/studies/{study.id}/"],
        carol: ["/worklist/", f"/studies/{study.id}/"],
        admin_user: ["/audit/", f"/studies/{study.id}/"],
    }
    seen = 0
    for user, paths in pages.items():
        client.force_login(user)
        for path in paths:
            response = client.get(path)
            assert response.status_code == 200, path
            html = response.content.decode()
            seen += html.lower().count("<form")
            assert not post_forms_without_token(html), path
        client.logout()
    assert seen >= 3  # the check looked at real forms


def test_password_validators_refuse_weak_passwords(alice):
    from django.contrib.auth.password_validation import validate_password
    from django.core.exceptions import ValidationError

    for weak in ("password", "12345678901", "qwertyuiop", "short"):
        with pytest.raises(ValidationError):
            validate_password(weak, user=alice)
    validate_password("ventilated-anteroposterior-7", user=alice)
