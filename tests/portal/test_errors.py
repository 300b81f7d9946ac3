"""One JSON error body everywhere under /api/: 400, 401, 403, 404 (also unrouted), 405, 415, 429, 500."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
from django.core.cache import cache
from django.test import RequestFactory

from audit.models import AuditEvent
from diagnosis.models import Patient
from portal.http_errors import server_error
from tests.fixtures.api import token_client

pytestmark = pytest.mark.django_db


def assert_error(response: Any, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.content
    assert response["Content-Type"].startswith("application/json")
    error = response.json()["error"]
    assert error["code"] == code and error["message"] and isinstance(error["fields"], dict)
    return error


@pytest.mark.parametrize("path", ["/api/v1/nope/", "/api/v2/studies/", "/api/v1/studies/not-a-uuid/"])
def test_unrouted_api_paths_answer_json_404(alice: Any, path: str) -> None:
    assert_error(token_client(alice).get(path), 404, "not_found")
    assert_error(token_client(None).get(path), 404, "not_found")


def test_pages_keep_their_html_404(alice: Any) -> None:
    response = token_client(alice).get("/no-such-page/")
    assert response.status_code == 404 and not response["Content-Type"].startswith("application/json")


def test_unknown_study_is_json_404(alice: Any) -> None:
    assert_error(token_client(alice).get(f"/api/v1/studies/{uuid.uuid4()}/"), 404, "not_found")


def test_unsupported_method_is_json_405(admin_user: Any) -> None:
    assert_error(token_client(admin_user).delete("/api/v1/studies/"), 405, "method_not_allowed")


def test_unsupported_media_type_is_json_415(alice: Any) -> None:
    response = token_client(alice).post("/api/v1/patients/", "mrn=X1", content_type="text/plain")
    assert_error(response, 415, "unsupported_media_type")
    assert not Patient.objects.exists()


def test_bad_token_is_json_401(alice: Any) -> None:
    client = token_client(None)
    client.credentials(HTTP_AUTHORIZATION="Token not-a-real-token")
    assert_error(client.get("/api/v1/studies/"), 401, "authentication_failed")


def test_invalid_filter_is_json_400_naming_the_parameter(alice: Any) -> None:
    error = assert_error(token_client(alice).get("/api/v1/studies/?status=done"), 400, "invalid_filter")
    assert "status" in error["fields"]


def test_invalid_page_is_json_404(alice: Any) -> None:
    assert_error(token_client(alice).get("/api/v1/studies/?page=99"), 404, "not_found")


def test_token_endpoint_is_throttled(alice: Any, settings: Any) -> None:
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": {"auth": "3/min"}}
    cache.clear()
    client = token_client(None)
    good = {"username": "alice", "password": "correct-horse-battery"}
    statuses = [client.post("/api/v1/auth/token/", good).status_code for _ in range(3)]
    assert statuses == [200, 200, 200]
    error = assert_error(client.post("/api/v1/auth/token/", good), 429, "throttled")
    assert "available in" in error["message"]
    assert AuditEvent.objects.filter(action="auth.token", actor=alice).count() == 3
    cache.clear()


def test_crash_under_api_is_a_json_500_without_a_trace() -> None:
    response = server_error(RequestFactory().get("/api/v1/studies/"))
    assert response.status_code == 500
    assert json.loads(response.content) == {
        "error": {"code": "server_error", "message": "Internal error; it has been logged.", "fields": {}}
    }
    page = server_error(RequestFactory().get("/studies/"))
    assert page.status_code == 500 and page["Content-Type"].startswith("text/html")


def test_heatmap_with_a_malformed_prediction_id_is_400_not_500(alice: Any, scene: Any) -> None:
    # Found by the schemathesis fuzz run: ?prediction=R reached the ORM and crashed with a 500.
    response = token_client(alice).get(f"/api/v1/studies/{scene.study.id}/heatmap/?prediction=R")
    error = assert_error(response, 400, "invalid_filter")
    assert error["fields"] == {"prediction": ["a UUID"]}
    assert not AuditEvent.objects.filter(action="heatmap.download").exists()


def test_failed_login_with_a_very_long_username_is_400_not_500(alice: Any) -> None:
    # Found by the schemathesis fuzz run: the audited username overflowed the 64-character object id.
    response = token_client(None).post("/api/v1/auth/token/", {"username": "u" * 150, "password": "x"})
    assert_error(response, 400, "invalid_credentials")
    event = AuditEvent.objects.get(action="auth.login_failed")
    assert event.object_id == "u" * 64


def test_oversized_form_fields_are_a_json_413(alice: Any, settings: Any) -> None:
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    client = token_client(alice)
    response = client.post("/api/v1/patients/", {"mrn": "BIG-1", "name": "a" * 5000}, format="json")
    assert_error(response, 413, "request_too_large")
    notes = {"patient_mrn": "BIG-2", "clinical_notes": "a" * 5000}
    assert_error(client.post("/api/v1/studies/", notes, format="multipart"), 413, "request_too_large")
    assert not Patient.objects.exists()
