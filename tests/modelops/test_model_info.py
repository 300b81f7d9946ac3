"""GET /api/v1/model/: the active bundle's version, operating point and validation metrics."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from mlcore.bundle import read_metadata, resolve_bundle_dir
from mlcore.config import CURRENT_POINTER
from tests.conftest import worker_env
from tests.fixtures.api import token_client

pytestmark = pytest.mark.django_db
ROOT = Path(__file__).resolve().parents[2]


def test_model_info_reads_the_bundle_metadata(alice: Any, model_bundle: Path) -> None:
    response = token_client(alice).get("/api/v1/model/")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["version"] == "airspace-test-1" and body["bundle"] == "airspace-test-1"
    assert body["threshold"] == 0.31 and body["temperature"] == 1.4
    assert body["indeterminate_band"] == [0.2, 0.45]
    assert body["metrics"] == {"roc_auc": {"value": 0.95, "ci95": [0.93, 0.97]}}
    assert body["metadata"] == json.loads((model_bundle / "metadata.json").read_text())


def test_model_info_without_a_bundle_is_a_503_error_body(alice: Any, settings: Any, tmp_path: Path) -> None:
    settings.AIRSPACE_MODEL_BUNDLE = str(tmp_path / "missing")
    response = token_client(alice).get("/api/v1/model/")
    assert response.status_code == 503
    error = response.json()["error"]
    assert error["code"] == "model_unavailable" and "metadata.json" in error["message"]


def test_model_info_refused_without_a_role(nobody: Any, model_bundle: Path) -> None:
    assert token_client(None).get("/api/v1/model/").status_code == 401
    response = token_client(nobody).get("/api/v1/model/")
    assert response.status_code == 403 and response.json()["error"]["code"] == "permission_denied"


@pytest.mark.skipif(not CURRENT_POINTER.exists(), reason="no shipped model bundle (models/CURRENT) yet")
def test_model_info_serves_the_shipped_bundle(carol: Any, settings: Any) -> None:
    settings.AIRSPACE_MODEL_BUNDLE = None
    metadata = read_metadata(resolve_bundle_dir())
    body = token_client(carol).get("/api/v1/model/").json()
    assert body["version"] == metadata["version"] and body["sha256"] == metadata["sha256"]
    assert body["threshold"] == metadata["threshold"]


def test_the_api_never_imports_tensorflow(services: None, model_bundle: Path, settings: Any) -> None:
    """Loading every API route and reading the model info stays free of TensorFlow (web process rule).

    The subprocess shares the test database (the served bundle is a row there), so it needs PostgreSQL:
    the embedded default's in-memory SQLite test database cannot be shared.
    """
    code = (
        "import sys, django; django.setup();"
        "import portal.urls, diagnosis.api.studies;"
        "from modelops.api.model_info import model_info;"
        "info = model_info();"
        "assert info['version'] == 'airspace-test-1', info;"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('tensorflow', 'keras'));"
        "assert not bad, bad"
    )
    # The test database: which bundle is served is a table there (modelops.ServedBundle).
    env = {**worker_env(settings), "AIRSPACE_MODEL_BUNDLE": str(model_bundle)}
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-2000:]
