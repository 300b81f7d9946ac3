"""Through the API with a real Celery worker and the shipped model: several images, then an admin re-run."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.forms.models import model_to_dict

from audit.models import AuditEvent
from diagnosis.models import Prediction, Study
from mlcore.config import CURRENT_POINTER
from tests.conftest import wait_for_status, xray_paths
from tests.fixtures.api import token_client

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not CURRENT_POINTER.exists(), reason="no shipped model bundle (models/CURRENT) yet"),
]
FINAL = tuple(Study.FINAL_STATUSES)


def _snapshot(prediction: Prediction) -> dict[str, Any]:
    return {
        **model_to_dict(prediction),
        "heatmap": prediction.heatmap.name,
        "created_at": prediction.created_at,
    }


def test_rerun_adds_a_prediction_and_never_edits_the_first(
    celery_worker: Any, alice: Any, admin_user: Any, settings: Any
) -> None:
    settings.AIRSPACE_MODEL_BUNDLE = None
    frontal, lateral = xray_paths()[:2]
    payload = {
        "image": SimpleUploadedFile(frontal.name, frontal.read_bytes()),
        "images": [SimpleUploadedFile(lateral.name, lateral.read_bytes())],
        "patient_mrn": "RERUN-1",
    }
    created = token_client(alice).post("/api/v1/studies/", payload, format="multipart")
    assert created.status_code == 201, created.content
    study = wait_for_status(created.json()["id"], FINAL)
    assert study.status == Study.Status.COMPLETED, study.status_reason
    first = study.predictions.get()
    assert first.run_number == 1 and first.image == study.images.order_by("created_at").first()
    before = _snapshot(first)

    admin = token_client(admin_user)
    rerun = admin.post(f"/api/v1/studies/{study.id}/rerun/")
    # Queued again; a live worker may already have taken it by the time the answer is serialised.
    assert rerun.status_code == 202 and rerun.json()["status"] in ("queued", "processing", "completed")
    # (A second re-run while this one is queued is refused: test_studies_api, without a worker racing it.)
    study = wait_for_status(study.id, FINAL)
    assert study.status == Study.Status.COMPLETED

    predictions = list(study.predictions.order_by("run_number"))
    assert [p.run_number for p in predictions] == [1, 2]
    assert _snapshot(Prediction.objects.get(id=first.id)) == before
    second = predictions[1]
    assert second.id != first.id and second.model_version == first.model_version
    assert second.requested_by == admin_user and second.image_id == first.image_id
    assert (
        AuditEvent.objects.filter(action="study.rerun", actor=admin_user, object_id=str(study.id)).count()
        == 1
    )
    assert (
        AuditEvent.objects.filter(action="prediction.create", object_id__in=[first.id, second.id]).count()
        == 2
    )

    detail = token_client(alice).get(f"/api/v1/studies/{study.id}/").json()
    assert detail["prediction"]["id"] == str(second.id) and detail["prediction"]["run_number"] == 2
    old_heatmap = token_client(alice).get(f"/api/v1/studies/{study.id}/heatmap/?prediction={first.id}")
    assert old_heatmap.status_code == 200
    assert b"".join(old_heatmap.streaming_content) == first.heatmap.open("rb").read()
