"""The /api/v1/ contract: token auth, upload, detail, lists, review, audit, error bodies."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from audit.models import AuditEvent
from diagnosis.models import Study
from reading.models import Review
from tests.diagnosis.factories import completed_study

pytestmark = pytest.mark.django_db


def as_user(api, user):
    api.force_authenticate(user)
    return api


def upload(api, data: bytes, **fields):
    payload = {
        "image": SimpleUploadedFile("chest.jpg", data, content_type="image/jpeg"),
        "patient_mrn": "MRN-7",
    }
    payload.update(fields)
    return api.post("/api/v1/studies/", payload, format="multipart")


def test_token_login_and_use(api, alice):
    response = api.post("/api/v1/auth/token/", {"username": "alice", "password": "correct-horse-battery"})
    assert response.status_code == 200
    token = response.json()["token"]
    api.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    assert api.get("/api/v1/studies/").status_code == 200
    assert AuditEvent.objects.filter(action="auth.token", actor=alice).exists()


def test_bad_credentials_give_the_error_body_and_are_audited(api, alice):
    response = api.post("/api/v1/auth/token/", {"username": "alice", "password": "wrong"})
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_credentials"
    assert AuditEvent.objects.filter(action="auth.login_failed", object_id="alice").exists()


def test_upload_201_with_the_study_contract(api, alice, xray_bytes):
    response = upload(as_user(api, alice), xray_bytes, priority="urgent", patient_name="Ada")
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["status"] == "queued" and body["priority"] == "urgent"
    assert body["patient"]["mrn"] == "MRN-7" and body["prediction"] is None and body["review"] is None
    assert {"id", "created_at", "error", "duplicate_of"} <= body.keys()
    detail = api.get(f"/api/v1/studies/{body['id']}/").json()
    assert detail["id"] == body["id"]


def test_upload_answer_is_the_study_as_read_back_without_reading_it_back(api, alice, xray_bytes):
    """The 201 body is built from the rows the upload wrote (selectors.study_just_created), and is exactly
    what a GET of the new study answers, for one image and for several, duplicate link included."""
    as_user(api, alice)
    first = upload(api, xray_bytes, patient_name="Ada", accession_number="ACC-1", clinical_notes="cough")
    extra = SimpleUploadedFile("lateral.jpg", xray_bytes, content_type="image/jpeg")
    second = upload(api, xray_bytes, images=[extra], study_date="2026-01-02")
    for response in (first, second):
        assert response.status_code == 201, response.content
        body = response.json()
        assert body == api.get(f"/api/v1/studies/{body['id']}/?poll=1").json()
    assert second.json()["duplicate_of"] == first.json()["id"] and len(second.json()["images"]) == 2


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"patient_mrn": ""}, "patient_mrn"),
        ({"priority": "asap"}, "priority"),
        ({"patient_mrn": "../x"}, "patient_mrn"),
        ({"patient_birth_date": "yesterday"}, "patient_birth_date"),
    ],
)
def test_upload_bad_fields_400_names_the_field(api, alice, xray_bytes, fields, field):
    response = upload(as_user(api, alice), xray_bytes, **fields)
    assert response.status_code == 400
    assert field in response.json()["error"]["fields"]
    assert not Study.objects.exists()


def test_upload_missing_image_400(api, alice):
    response = as_user(api, alice).post("/api/v1/studies/", {"patient_mrn": "M1"}, format="multipart")
    assert response.status_code == 400 and "image" in response.json()["error"]["fields"]


def test_upload_non_image_400_with_code(api, alice):
    response = upload(as_user(api, alice), b"%PDF-1.7 not an x-ray")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "unsupported_format"


def test_idempotency_key_header(api, alice, xray_bytes):
    as_user(api, alice)
    first = api.post(
        "/api/v1/studies/",
        {"image": SimpleUploadedFile("a.jpg", xray_bytes), "patient_mrn": "M1"},
        format="multipart",
        HTTP_IDEMPOTENCY_KEY="abc",
    )
    again = api.post(
        "/api/v1/studies/",
        {"image": SimpleUploadedFile("a.jpg", xray_bytes), "patient_mrn": "M1"},
        format="multipart",
        HTTP_IDEMPOTENCY_KEY="abc",
    )
    assert first.status_code == 201 and again.status_code == 200
    assert first.json()["id"] == again.json()["id"] and Study.objects.count() == 1


def test_duplicate_upload_is_flagged(api, alice, xray_bytes):
    first = upload(as_user(api, alice), xray_bytes).json()
    second = upload(api, xray_bytes).json()
    assert second["duplicate_of"] == first["id"]


def test_clinician_does_not_see_another_clinicians_study(api, alice, bob):
    study = completed_study(created_by=alice)
    as_user(api, bob)
    assert api.get(f"/api/v1/studies/{study.id}/").status_code == 404
    assert api.get("/api/v1/studies/").json()["count"] == 0
    assert api.get(f"/api/v1/studies/{study.id}/image/").status_code == 404


def test_opening_a_study_is_audited_and_polling_is_audited_apart(api, alice):
    study = completed_study(created_by=alice)
    as_user(api, alice).get(f"/api/v1/studies/{study.id}/?poll=1")
    assert not AuditEvent.objects.filter(action="study.view").exists()
    assert AuditEvent.objects.filter(action="study.poll", object_id=str(study.id), actor=alice).count() == 1
    api.get(f"/api/v1/studies/{study.id}/")
    assert AuditEvent.objects.filter(action="study.view", object_id=str(study.id), actor=alice).count() == 1


def test_etag_polling(api, alice):
    study = completed_study(created_by=alice)
    first = as_user(api, alice).get(f"/api/v1/studies/{study.id}/?poll=1")
    again = api.get(f"/api/v1/studies/{study.id}/?poll=1", HTTP_IF_NONE_MATCH=first["ETag"])
    assert again.status_code == 304


def test_list_pagination_envelope_and_page_size(api, alice):
    for _ in range(3):
        completed_study(created_by=alice)
    body = as_user(api, alice).get("/api/v1/studies/?page_size=2").json()
    assert body["count"] == 3 and len(body["results"]) == 2 and body["next"] and body["previous"] is None


def test_review_agree_and_override_and_amendment(api, alice, carol):
    study = completed_study(created_by=alice, probability=0.92)
    as_user(api, carol)
    agree = api.post(f"/api/v1/studies/{study.id}/review/", {"decision": "agree"})
    assert agree.status_code == 201 and agree.json()["final_label"] == "PNEUMONIA"
    missing = api.post(
        f"/api/v1/studies/{study.id}/review/", {"decision": "override", "final_label": "NORMAL"}
    )
    assert missing.status_code == 400 and "reason" in missing.json()["error"]["fields"]
    amend = api.post(
        f"/api/v1/studies/{study.id}/review/",
        {
            "decision": "override",
            "final_label": "NORMAL",
            "reason": "false_alarm",
            "note": "clear",
            "amendment_reason": "looked again",
        },
    )
    assert amend.status_code == 201 and amend.json()["version"] == 2
    reviews = list(Review.objects.filter(study=study).order_by("version"))
    assert [r.is_current for r in reviews] == [False, True] and reviews[1].previous_id == reviews[0].id
    prediction = study.predictions.get()
    assert prediction.label == "PNEUMONIA" and prediction.probability == 0.92  # the AI result is never edited
    detail = as_user(api, alice).get(f"/api/v1/studies/{study.id}/").json()
    assert detail["review"]["final_label"] == "NORMAL" and len(detail["reviews"]) == 2


def test_only_radiologists_review(api, alice, admin_user):
    study = completed_study(created_by=alice)
    for user in (alice, admin_user):
        response = as_user(api, user).post(f"/api/v1/studies/{study.id}/review/", {"decision": "agree"})
        assert response.status_code == 403
    assert not Review.objects.exists()


def test_worklist_lists_completed_unreviewed(api, alice, carol):
    waiting = completed_study(created_by=alice)
    reviewed = completed_study(created_by=alice)
    Review.objects.create(
        study=reviewed,
        prediction=reviewed.predictions.get(),
        reviewer=carol,
        decision="agree",
        final_label="PNEUMONIA",
    )
    ids = [s["id"] for s in as_user(api, carol).get("/api/v1/worklist/").json()["results"]]
    assert ids == [str(waiting.id)]


def test_audit_admin_only_newest_first(api, alice, admin_user):
    completed_study(created_by=alice)
    as_user(api, alice).get("/api/v1/studies/")
    assert api.get("/api/v1/audit/").status_code == 403
    body = as_user(api, admin_user).get("/api/v1/audit/").json()
    ids = [e["id"] for e in body["results"]]
    assert ids == sorted(ids, reverse=True)


def test_no_role_user_gets_403_and_anonymous_401(api, nobody):
    assert api.get("/api/v1/studies/").status_code == 401
    as_user(api, nobody)
    for url in ("/api/v1/studies/", "/api/v1/worklist/", "/api/v1/audit/", "/api/v1/patients/"):
        response = api.get(url)
        assert response.status_code == 403, url
        assert response.json()["error"]["code"] == "permission_denied"


def test_an_api_upload_reads_its_caller_once_and_nothing_back(api, alice, xray_bytes):
    """#17 load: the token, user, staff profile and roles come in one query (PostgreSQL), the 201 is built
    from the rows written (no image or delivery re-read), and the upload takes 6 statements besides its
    transaction's: the token, the duplicate check and the earlier study's scope (this test sends one file
    twice), the patient, the study with its image and the audit head in one message, the audit event."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    token = api.post("/api/v1/auth/token/", {"username": "alice", "password": "correct-horse-battery"})
    api.credentials(HTTP_AUTHORIZATION=f"Token {token.json()['token']}")
    assert upload(api, xray_bytes).status_code == 201  # the patient exists from here on
    with CaptureQueriesContext(connection) as queries:
        response = upload(api, xray_bytes)
    assert response.status_code == 201 and response.json()["images"][0]["sha256"]
    statements = [q["sql"] for q in queries.captured_queries if "SAVEPOINT" not in q["sql"]]
    # One block: the upload's transaction (a savepoint here, inside the test's); the patient lookup opens
    # no savepoint of its own (two round trips per upload).
    savepoints = [q["sql"] for q in queries.captured_queries if q["sql"].startswith("SAVEPOINT")]
    assert len(savepoints) == 1, savepoints
    assert sum('FROM "knox_authtoken"' in sql for sql in statements) == 1
    # The only image read is the duplicate check's lookup by sha256 (the 201 body re-reads no image row).
    image_reads = [sql for sql in statements if sql.startswith("SELECT") and 'FROM "diagnosis_image"' in sql]
    assert len(image_reads) == 1, image_reads
    assert image_reads[0].startswith(
        'SELECT "diagnosis_image"."study_id" AS "study_id" FROM "diagnosis_image"'
    )
    assert 'WHERE "diagnosis_image"."sha256" = ' in image_reads[0]
    assert not any('FROM "diagnosis_staffprofile"' in sql for sql in statements)
    if connection.vendor == "postgresql":  # roles ride on the token query (ArraySubquery)
        assert not any(sql.startswith('SELECT "auth_group"') for sql in statements)
        assert len(statements) == 6, statements
        assert sum(sql.startswith('INSERT INTO "diagnosis_study"') for sql in statements) == 1
