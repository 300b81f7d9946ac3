"""Every kind of hostile or broken file through POST /api/v1/studies/: a clear 4xx, or an explained final state."""

from __future__ import annotations

from functools import cache

import pytest

from audit.models import AuditEvent
from diagnosis.models import Image, Prediction, Study
from tests.conftest import wait_for_status
from tests.fixtures.dicoms import MALFORMED_DISPLAY_KINDS, malformed_display_dicom
from tests.fixtures.hostile import EXPECTED, MAX_BYTES, hostile_corpus
from tests.hostile.checks import assert_clean_error, assert_media_matches_rows
from tests.hostile.multipart import multipart

DECODABLE = ("ok", "not_chest_xray")
REFUSED = sorted(kind for kind, code in EXPECTED.items() if code not in (*DECODABLE, "file_too_large"))
ACCEPTED = sorted(kind for kind, code in EXPECTED.items() if code in DECODABLE)


@cache
def corpus() -> dict[str, tuple[str, bytes]]:
    """The generated corpus (without the 50 MB file), built once per run."""
    return hostile_corpus()


def post_file(api, user, filename: bytes, data: bytes, **fields: str):
    """Upload raw bytes under a raw file name, as an HTTP client would."""
    api.force_authenticate(user)
    body, content_type = multipart({"patient_mrn": "MRN-H1", **fields}, [("image", filename, data)])
    return api.post("/api/v1/studies/", data=body, content_type=content_type)


def test_the_corpus_covers_at_least_twenty_kinds():
    assert len(EXPECTED) >= 20 and set(REFUSED) | set(ACCEPTED) | {"oversize"} == set(EXPECTED)


@pytest.mark.django_db
@pytest.mark.parametrize("kind", REFUSED)
def test_refused_kind_is_a_400_naming_the_problem_and_stores_nothing(api, alice, settings, kind):
    filename, data = corpus()[kind]
    error = assert_clean_error(post_file(api, alice, filename.encode(), data), 400, EXPECTED[kind])
    assert "image" in error["fields"] and error["fields"]["image"][0] == error["message"]
    assert not Study.objects.exists() and not Image.objects.exists()
    assert not AuditEvent.objects.filter(action="study.upload").exists()
    assert_media_matches_rows(settings)


@pytest.mark.django_db
@pytest.mark.parametrize("kind", MALFORMED_DISPLAY_KINDS)
def test_dicom_that_crashes_the_decoder_is_a_400_not_a_500(api, alice, settings, kind):
    error = assert_clean_error(post_file(api, alice, b"crash.dcm", malformed_display_dicom(kind)), 400)
    assert "image" in error["fields"]
    assert not Study.objects.exists() and not Image.objects.exists()
    assert_media_matches_rows(settings)


@pytest.mark.django_db
def test_file_over_the_default_50_mb_limit_is_a_413_json(api, alice, settings):
    filename, data = hostile_corpus(include_oversize=True)["oversize"]
    assert len(data) > MAX_BYTES == settings.AIRSPACE_MAX_UPLOAD_BYTES
    error = assert_clean_error(post_file(api, alice, filename.encode(), data), 413, "file_too_large")
    assert "50 MB" in error["message"]
    assert not Study.objects.exists()
    assert_media_matches_rows(settings)


@pytest.mark.django_db
def test_upload_limit_is_configurable(api, alice, settings, xray_bytes):
    settings.AIRSPACE_MAX_UPLOAD_BYTES = len(xray_bytes) - 1
    assert_clean_error(post_file(api, alice, b"chest.jpg", xray_bytes), 413, "file_too_large")
    settings.AIRSPACE_MAX_UPLOAD_BYTES = len(xray_bytes)
    assert post_file(api, alice, b"chest.jpg", xray_bytes).status_code == 201
    assert Study.objects.count() == 1
    assert_media_matches_rows(settings)


@pytest.mark.slow
def test_decodable_kinds_reach_an_explained_final_state(api, alice, settings, celery_worker):
    """Decodable odd formats are analysed; decodable non-chest images end `rejected` with a reason."""
    uploaded = {}
    for kind in ACCEPTED:
        filename, data = corpus()[kind]
        response = post_file(api, alice, filename.encode(), data)
        assert response.status_code == 201, (kind, response.content[:300])
        assert response.json()["status"] == "queued"
        uploaded[kind] = response.json()["id"]
    for kind, study_id in uploaded.items():
        study = wait_for_status(study_id, Study.FINAL_STATUSES, timeout=120)
        body = api.get(f"/api/v1/studies/{study_id}/?poll=1").json()
        assert b"Traceback" not in str(body).encode()
        if EXPECTED[kind] == "ok":
            assert study.status == Study.Status.COMPLETED, (kind, study.status, study.status_reason)
            assert Prediction.objects.filter(study_id=study_id).count() == 1
            assert body["prediction"]["label"] in ("NORMAL", "PNEUMONIA")
        else:
            assert study.status == Study.Status.REJECTED, (kind, study.status)
            assert study.error_code == "not_chest_xray" and body["reason"] == study.status_reason != ""
            assert body["prediction"] is None and not Prediction.objects.filter(study_id=study_id).exists()
            assert AuditEvent.objects.filter(action="study.rejected", object_id=study_id).count() == 1
    assert_media_matches_rows(settings)
