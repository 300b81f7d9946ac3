"""End to end on real parts: API upload → Redis → a real Celery worker process → PostgreSQL → result."""

from __future__ import annotations

import time

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from audit.models import AuditEvent
from diagnosis.models import Prediction
from tests.conftest import wait_for_status, xray_paths

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def test_real_xray_through_api_worker_and_database(celery_worker, api, alice, carol):
    path = xray_paths()[-1]
    api.force_authenticate(alice)
    started = time.monotonic()
    response = api.post(
        "/api/v1/studies/",
        {
            "image": SimpleUploadedFile(path.name, path.read_bytes(), content_type="image/jpeg"),
            "patient_mrn": "E2E-1",
            "priority": "urgent",
        },
        format="multipart",
    )
    assert response.status_code == 201, response.content
    study_id = response.json()["id"]
    study = wait_for_status(study_id, ("completed", "failed", "rejected"))
    elapsed = time.monotonic() - started
    assert study.status == "completed", study.status_reason
    prediction = Prediction.objects.get(study_id=study_id)
    assert 0 <= prediction.probability <= 1 and prediction.model_version
    body = api.get(f"/api/v1/studies/{study_id}/").json()
    assert body["status"] == "completed"
    assert body["prediction"]["label"] == prediction.label
    assert body["prediction"]["heatmap_url"]
    actions = set(
        AuditEvent.objects.filter(object_id__in=[study_id, str(prediction.id)]).values_list(
            "action", flat=True
        )
    )
    assert {"study.upload", "prediction.create", "study.view"} <= actions
    heatmap = api.get(body["prediction"]["heatmap_url"])
    assert heatmap.status_code == 200 and heatmap["Cache-Control"] == "private, no-store"
    print(f"\nupload→result through the real worker: {elapsed * 1000:.0f} ms")
    api.force_authenticate(carol)
    assert api.get("/api/v1/worklist/").json()["results"][0]["id"] == study_id
