"""The reading journey on real parts: API upload -> real Celery worker on Redis + PostgreSQL -> worklist ->
claim race on the wire -> signed override and amendment -> monitoring -> de-identified export -> intact audit."""

from __future__ import annotations

import io

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command

from audit.models import AuditEvent
from diagnosis.models import Prediction
from reading.models import Review
from tests.conftest import wait_for_status, xray_paths

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def upload(api, user, path, mrn: str, priority: str) -> str:
    api.force_authenticate(user)
    data = {
        "image": SimpleUploadedFile(path.name, path.read_bytes(), content_type="image/jpeg"),
        "patient_mrn": mrn,
        "priority": priority,
    }
    response = api.post("/api/v1/studies/", data, format="multipart")
    assert response.status_code == 201, response.content
    return response.json()["id"]


def test_reading_journey_on_the_real_worker(
    celery_worker, api, alice, carol, dave, admin_user, settings, tmp_path
):
    settings.AIRSPACE_AUDIT_ANCHOR_FILE = tmp_path / "anchors.jsonl"
    routine = upload(api, alice, xray_paths()[0], "RJ-1", "routine")
    urgent = upload(api, alice, xray_paths()[-1], "RJ-2", "urgent")
    for study_id in (routine, urgent):
        assert wait_for_status(study_id, ("completed", "failed", "rejected")).status == "completed"
    # The worklist: urgent first, badges counted.
    api.force_authenticate(carol)
    body = api.get("/api/v1/worklist/").json()
    assert [row["id"] for row in body["results"]] == [urgent, routine]
    assert body["counts"]["total"] == 2 and body["counts"]["urgent"] == 1
    # Claims on the wire: 200 for carol, 409 naming her for dave.
    assert api.post(f"/api/v1/studies/{urgent}/claim/").status_code == 200
    api.force_authenticate(dave)
    taken = api.post(f"/api/v1/studies/{urgent}/claim/")
    assert taken.status_code == 409 and taken.json()["error"]["fields"]["holder"] == ["carol"]
    # Carol overrides the AI; Dave later amends; the AI prediction is untouched.
    ai = Prediction.objects.get(study_id=urgent)
    opposite = "NORMAL" if ai.label == "PNEUMONIA" else "PNEUMONIA"
    reason = "false_alarm" if ai.label == "PNEUMONIA" else "missed_finding"
    api.force_authenticate(carol)
    signed = api.post(
        f"/api/v1/studies/{urgent}/review/",
        {"decision": "override", "final_label": opposite, "reason": reason},
        format="json",
    )
    assert signed.status_code == 201
    api.force_authenticate(dave)
    assert (
        api.post(
            f"/api/v1/studies/{urgent}/review/",
            {"decision": "agree", "amendment_reason": "second read agrees with the AI"},
            format="json",
        ).status_code
        == 201
    )
    assert (
        Prediction.objects.get(id=ai.id).label == ai.label
        and Prediction.objects.filter(study_id=urgent).count() == 1
    )
    assert list(
        Review.objects.filter(study_id=urgent).order_by("version").values_list("version", "is_current")
    ) == [(1, False), (2, True)]
    assert [row["id"] for row in api.get("/api/v1/worklist/").json()["results"]] == [routine]
    # Monitoring counts the current (amended) read, which now agrees with the AI.
    api.force_authenticate(admin_user)
    (model,) = api.get(f"/api/v1/monitoring/?model_version={ai.model_version}").json()["models"]
    assert model["volume"]["studies"] == 2 and model["volume"]["reviewed"] == 1
    assert model["agreement"]["value"] == 1.0 and model["overrides"]["total"] == 0
    # Export and audit.
    out = io.StringIO()
    call_command("export_reviewed", "--out", str(tmp_path / "ds"), stdout=out)
    assert out.getvalue().startswith(f"Exported 1 reviewed studies ({ai.label} 1)")
    assert b"RJ-2" not in (tmp_path / "ds" / "labels.csv").read_bytes()
    call_command("audit_anchor", stdout=io.StringIO())
    verdict = io.StringIO()
    call_command("audit_verify", stdout=verdict)
    assert verdict.getvalue().startswith("OK:")
    actions = set(AuditEvent.objects.filter(object_id=urgent).values_list("action", flat=True))
    assert {"study.upload", "study.claim", "review.sign", "review.amend"} <= actions
    assert AuditEvent.objects.filter(action="prediction.create", after__study=urgent).exists()
    assert AuditEvent.objects.filter(action="dataset.export").exists()
