"""A missing or corrupt model bundle: the worker refuses to start and says why, /healthz names the model,
and studies wait queued (never failed by the thousand) until a worker with a good bundle takes them."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import pytest

from diagnosis.models import Prediction, Study
from mlcore.bundle import resolve_bundle_dir
from tests.conftest import wait_for_status
from tests.faults.conftest import upload


@pytest.fixture
def bundle_copy(tmp_path: Path, settings) -> Path:
    """A private copy of the shipped bundle that a test may damage."""
    try:
        source = resolve_bundle_dir(settings.AIRSPACE_MODEL_BUNDLE)
    except Exception as exc:  # noqa: BLE001
        pytest.skip(f"no shipped model bundle: {exc}")
    return Path(shutil.copytree(source, tmp_path / source.name))


def damage(bundle: Path, name: str, how: str) -> None:
    """Corrupt (append a byte) or delete one file of the bundle."""
    target = bundle / name
    if how == "missing":
        target.unlink()
    else:
        with target.open("ab") as handle:
            handle.write(b"\0")


FAULTS = [
    ("model.keras", "corrupt", "sha256 mismatch for model.keras"),
    ("model.keras", "missing", "model.keras is missing"),
    ("metadata.json", "missing", "metadata.json is missing"),
    ("model.tflite", "corrupt", "sha256 mismatch for model.tflite"),
]


@pytest.mark.parametrize(("name", "how", "reason"), FAULTS, ids=[f"{n}-{h}" for n, h, _ in FAULTS])
def test_worker_refuses_to_start_and_says_why(workers, bundle_copy, name, how, reason):
    damage(bundle_copy, name, how)
    with pytest.raises(RuntimeError, match="worker exited early") as refused:
        workers(env={"AIRSPACE_MODEL_BUNDLE": str(bundle_copy)}, name="bad-bundle")
    assert "refuses to start" in str(refused.value) and reason in str(refused.value)


@pytest.mark.parametrize(("name", "how", "reason"), FAULTS, ids=[f"{n}-{h}" for n, h, _ in FAULTS])
def test_healthz_reports_the_model_by_name(client, db, settings, bundle_copy, name, how, reason):
    settings.AIRSPACE_MODEL_BUNDLE = str(bundle_copy)
    assert client.get("/healthz").json()["checks"]["model"] == "ok"
    damage(bundle_copy, name, how)
    response = client.get("/healthz")
    assert response.status_code == 503
    body = response.json()
    assert body["ok"] is False and reason in body["checks"]["model"]
    assert body["checks"]["model"].startswith("model bundle unusable")


def test_studies_wait_queued_until_a_good_worker_takes_them(api, alice, xray_bytes, workers, bundle_copy):
    damage(bundle_copy, "model.keras", "corrupt")
    with pytest.raises(RuntimeError, match="sha256 mismatch"):
        workers(env={"AIRSPACE_MODEL_BUNDLE": str(bundle_copy)}, name="bad-bundle")
    ids = [upload(api, alice, xray_bytes, mrn=f"MRN-W{i}")["id"] for i in range(3)]
    time.sleep(3)
    assert set(Study.objects.filter(id__in=ids).values_list("status", "attempts")) == {("queued", 0)}
    workers(name="good-bundle")
    for study_id in ids:
        study = wait_for_status(study_id, Study.FINAL_STATUSES, timeout=90)
        assert study.status == Study.Status.COMPLETED
        assert Prediction.objects.filter(study=study).count() == 1
