"""Hostile file names, wrong form fields, wrong types and duplicates through the upload API."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from audit.models import AuditEvent
from diagnosis.models import Image, Study
from tests.hostile.checks import assert_clean_error, assert_media_matches_rows
from tests.hostile.multipart import multipart

pytestmark = pytest.mark.django_db


def post(api, user, fields: dict[str, str], files: list[tuple[str, bytes, bytes]]):
    api.force_authenticate(user)
    body, content_type = multipart(fields, files)
    return api.post("/api/v1/studies/", data=body, content_type=content_type)


def assert_nothing_stored(settings) -> None:
    assert not Study.objects.exists() and not Image.objects.exists()
    assert not AuditEvent.objects.filter(action="study.upload").exists()
    assert_media_matches_rows(settings)


@pytest.mark.parametrize(
    "filename",
    [
        b"../../../etc/passwd.jpg",
        b"..\\..\\windows\\system32\\x.jpg",
        b"/abs/path/chest.jpg",
        b"chest\x00.php.jpg",
        b"a" * 900 + b".jpg",
        "胸部 X 線.jpg".encode(),
        b"<script>alert(1)</script>.jpg",
    ],
)
def test_hostile_file_names_are_stored_under_a_random_key(api, alice, settings, xray_bytes, filename):
    response = post(api, alice, {"patient_mrn": "MRN-F1"}, [("image", filename, xray_bytes)])
    assert response.status_code == 201, response.content[:300]
    image = Image.objects.get(study_id=response.json()["id"])
    shown = image.original_filename
    assert shown and len(shown) <= 200 and not {"/", "\\", "\x00"} & set(shown) and not shown.startswith(".")
    assert response.json()["image"]["filename"] == shown
    # The storage key never derives from the user's name and stays inside MEDIA_ROOT.
    assert image.file.name.startswith(f"studies/{image.study_id}/") and shown not in image.file.name
    stored = (Path(settings.MEDIA_ROOT) / image.file.name).resolve()
    assert stored.is_relative_to(Path(settings.MEDIA_ROOT).resolve()) and stored.read_bytes() == xray_bytes
    assert_media_matches_rows(settings)


@pytest.mark.parametrize(
    ("filename", "status"),
    [(b"r\xf6ntgen.jpg", 400), (b"\xff\xfe\xfa.jpg", 400), (b"x" * 5000 + b".jpg", 400)],
    ids=["latin1", "invalid-utf8", "5000-chars"],
)
def test_unparseable_file_names_are_a_4xx_json_error(api, alice, settings, xray_bytes, filename, status):
    """Non-UTF-8 headers and oversized part headers cannot be parsed: refused cleanly, nothing stored."""
    response = post(api, alice, {"patient_mrn": "MRN-F2"}, [("image", filename, xray_bytes)])
    assert_clean_error(response, status)
    assert_nothing_stored(settings)


def test_missing_mrn_is_a_400_naming_the_field(api, alice, settings, xray_bytes):
    error = assert_clean_error(post(api, alice, {}, [("image", b"x.jpg", xray_bytes)]), 400, "invalid")
    assert list(error["fields"]) == ["patient_mrn"]
    assert_nothing_stored(settings)


@pytest.mark.parametrize("priority", ["asap", "1", "URGENT", "routine\x00", "urgent; DROP TABLE"])
def test_wrong_priority_value_is_a_400_naming_the_field(api, alice, settings, xray_bytes, priority):
    response = post(
        api, alice, {"patient_mrn": "M1", "priority": priority}, [("image", b"x.jpg", xray_bytes)]
    )
    assert "priority" in assert_clean_error(response, 400)["fields"]
    assert_nothing_stored(settings)


def test_priority_sent_as_a_file_is_a_400(api, alice, settings, xray_bytes):
    files = [("image", b"x.jpg", xray_bytes), ("priority", b"p.txt", b"urgent")]
    assert "priority" in assert_clean_error(post(api, alice, {"patient_mrn": "M1"}, files), 400)["fields"]
    assert_nothing_stored(settings)


def test_image_under_the_wrong_field_name_is_a_400(api, alice, settings, xray_bytes):
    response = post(api, alice, {"patient_mrn": "M1"}, [("file", b"x.jpg", xray_bytes)])
    assert list(assert_clean_error(response, 400)["fields"]) == ["image"]
    assert_nothing_stored(settings)


def test_image_sent_as_a_text_field_is_a_400(api, alice, settings):
    response = post(api, alice, {"patient_mrn": "M1", "image": "data:image/jpeg;base64,/9j/4AAQ"}, [])
    assert "image" in assert_clean_error(response, 400)["fields"]
    assert_nothing_stored(settings)


def test_json_body_is_a_415(api, alice, settings):
    api.force_authenticate(alice)
    response = api.post("/api/v1/studies/", {"patient_mrn": "M1", "image": "x"}, format="json")
    assert_clean_error(response, 415, "unsupported_media_type")
    assert_nothing_stored(settings)


def test_malformed_multipart_is_a_400(api, alice, settings):
    api.force_authenticate(alice)
    response = api.post(
        "/api/v1/studies/", data=b"--nope\r\ngarbage", content_type="multipart/form-data; boundary=other"
    )
    assert 400 <= response.status_code < 500 and b"Traceback" not in response.content
    assert_nothing_stored(settings)


def test_wrong_types_for_dates_and_sex_are_400s(api, alice, settings, xray_bytes):
    fields = {"patient_mrn": "M1", "patient_birth_date": "31/31/2020", "patient_sex": "X", "study_date": "1"}
    error = assert_clean_error(post(api, alice, fields, [("image", b"x.jpg", xray_bytes)]), 400)
    assert {"patient_birth_date", "patient_sex", "study_date"} <= set(error["fields"])
    assert_nothing_stored(settings)


def test_duplicate_upload_is_accepted_and_points_at_the_first(api, alice, settings, xray_bytes):
    api.force_authenticate(alice)
    first = api.post(
        "/api/v1/studies/",
        {"image": SimpleUploadedFile("a.jpg", xray_bytes), "patient_mrn": "MRN-D"},
        format="multipart",
    )
    second = api.post(
        "/api/v1/studies/",
        {"image": SimpleUploadedFile("b.jpg", xray_bytes), "patient_mrn": "MRN-D"},
        format="multipart",
    )
    assert first.status_code == second.status_code == 201
    assert first.json()["duplicate_of"] is None and second.json()["duplicate_of"] == first.json()["id"]
    assert (
        Study.objects.count() == 2
        and Image.objects.filter(sha256=first.json()["image"]["sha256"]).count() == 2
    )
    assert AuditEvent.objects.filter(action="study.upload").count() == 2
    assert_media_matches_rows(settings)


def test_retried_upload_with_the_same_idempotency_key_stores_once(api, alice, settings, xray_bytes):
    api.force_authenticate(alice)
    answers = [
        api.post(
            "/api/v1/studies/",
            {"image": SimpleUploadedFile("a.jpg", xray_bytes), "patient_mrn": "MRN-K"},
            format="multipart",
            HTTP_IDEMPOTENCY_KEY="client-retry-1",
        )
        for _ in range(2)
    ]
    assert [a.status_code for a in answers] == [201, 200] and answers[0].json()["id"] == answers[1].json()[
        "id"
    ]
    assert Study.objects.count() == 1 and Image.objects.count() == 1
    assert_media_matches_rows(settings)
