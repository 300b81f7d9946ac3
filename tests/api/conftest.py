"""API test fixtures: token clients per role and a small scene of records Alice owns."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
from django.core.files.base import ContentFile
from knox.models import AuthToken
from rest_framework.test import APIClient

from diagnosis.api.matrix import ADMIN, ANONYMOUS, CLINICIAN, NO_ROLE, RADIOLOGIST
from diagnosis.models import Patient, Study
from tests.diagnosis.factories import completed_study, png_bytes


def token_client(user: Any | None) -> APIClient:
    """A client that authenticates the way integrators do: with a real token header."""
    client = APIClient()
    if user is not None:
        _, token = AuthToken.objects.create(user=user)
        client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    return client


@pytest.fixture
def role_users(nobody: Any, alice: Any, carol: Any, admin_user: Any) -> dict[str, Any]:
    """One user per matrix role (None for anonymous)."""
    return {ANONYMOUS: None, NO_ROLE: nobody, CLINICIAN: alice, RADIOLOGIST: carol, ADMIN: admin_user}


@dataclass
class Scene:
    patient: Patient
    study: Study


@pytest.fixture
def scene(alice: Any) -> Scene:
    """Alice's completed study (image, prediction with heatmap) and its patient."""
    study = completed_study(created_by=alice)
    prediction = study.predictions.get()
    prediction.heatmap.save("heatmap.png", ContentFile(png_bytes(shade=200)), save=True)
    return Scene(patient=study.patient, study=study)


@pytest.fixture
def model_bundle(tmp_path: Any, settings: Any) -> Any:
    """A metadata-only bundle (the web process never loads weights), made the active one."""
    import json

    bundle = tmp_path / "airspace-test-1"
    bundle.mkdir()
    metadata = {
        "version": "airspace-test-1",
        "sha256": "0" * 64,
        "input_size": 224,
        "threshold": 0.31,
        "temperature": 1.4,
        "indeterminate_band": [0.2, 0.45],
        "metrics": {"roc_auc": {"value": 0.95, "ci95": [0.93, 0.97]}},
    }
    (bundle / "metadata.json").write_text(json.dumps(metadata))
    settings.AIRSPACE_MODEL_BUNDLE = str(bundle)
    return bundle
