"""Training end to end: a tiny synthetic run (fast), resume, packaging and evaluation; a short real run (slow)."""

from __future__ import annotations

import json
import os
import random
from pathlib import Path

import pytest

from mlcore.config import SHARED_DATA_DIR
from tests.mlcore.synthetic import make_folder

TINY = {
    "epochs": 1,
    "batch_size": 8,
    "val_fraction": 0.3,
    "early_stopping_patience": 2,
    "cache_images": False,
    "arch": {
        "internal_size": 64,
        "stem_filters": 8,
        "stage_filters": [8, 16, 16],
        "blocks_per_stage": [1, 1, 1],
    },
}
META_KEYS = {
    "version", "sha256", "input_size", "preprocessing", "threshold", "temperature", "indeterminate_band",
    "target_sensitivity", "data_manifest_sha256", "code_revision", "created_at", "training", "metrics",
    "validation_probability_histogram", "validation",
}  # fmt: skip


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """One tiny synthetic training run: (data folder, run folder)."""
    from mlcore.train import train

    root = tmp_path_factory.mktemp("tiny")
    folder = make_folder(root / "data", per_class=16)
    train(folder, root / "run", overrides=TINY)
    return folder, root / "run"


def test_run_folder_has_model_metadata_and_history(tiny_run) -> None:
    _, run = tiny_run
    for name in (
        "model.keras",
        "metadata.json",
        "history.csv",
        "val_predictions.csv",
        "train.log",
        "last.keras",
    ):
        assert (run / name).exists(), name
    meta = json.loads((run / "metadata.json").read_text())
    assert set(meta) >= META_KEYS
    assert meta["training"]["epochs"] == 1
    assert {"value", "ci_low", "ci_high"} == set(meta["metrics"]["roc_auc"])


def test_interrupted_run_resumes_from_last_checkpoint(tiny_run) -> None:
    from mlcore.train import train

    folder, run = tiny_run
    train(folder, run, overrides={**TINY, "epochs": 2})
    assert json.loads((run / "state.json").read_text())["epoch"] == 2
    assert "resuming from last.keras after epoch 1" in (run / "train.log").read_text()
    assert len((run / "history.csv").read_text().strip().splitlines()) == 3


def test_package_and_evaluate_a_run(tiny_run, tmp_path: Path) -> None:
    from mlcore.evaluate import evaluate_folder
    from mlcore.packaging import package_run

    folder, run = tiny_run
    bundle = package_run(run, "airspace-cnn-0.0.1", folder, {"again": str(folder)}, True, tmp_path)
    assert (tmp_path / "CURRENT").read_text().strip() == "airspace-cnn-0.0.1"
    for name in ("model.keras", "metadata.json", "MODEL_CARD.md", "report/report.md", "report/roc.png"):
        assert (bundle / name).exists(), name
    assert "not for adults" in (bundle / "MODEL_CARD.md").read_text()
    result = evaluate_folder(bundle, folder, tmp_path / "eval")
    assert result["n_images"] == 32
    assert {"roc.png", "reliability.png", "confusion.png"} <= {p.name for p in (tmp_path / "eval").iterdir()}


@pytest.mark.slow
def test_short_real_training_beats_chance(tmp_path: Path) -> None:
    from mlcore.train import train

    source = SHARED_DATA_DIR / "chest_xray_224" / "train"
    if not source.is_dir():
        pytest.skip(f"shared data not available at {source}: the real training test needs it")
    # 1. A few hundred real images (both classes), linked into a small Kaggle-like folder.
    rng = random.Random(0)
    for cls, n in (("NORMAL", 200), ("PNEUMONIA", 200)):
        (tmp_path / "data" / cls).mkdir(parents=True)
        for path in rng.sample(sorted((source / cls).iterdir()), n):
            os.symlink(path, tmp_path / "data" / cls / path.name)
    # 2. A short run at a reduced internal resolution.
    overrides = {"epochs": 6, "cache_images": False, "val_fraction": 0.25, "arch": {"internal_size": 128}}
    meta = train(tmp_path / "data", tmp_path / "run", overrides=overrides)
    assert meta["metrics"]["roc_auc"]["value"] >= 0.8


def test_recalibrate_refits_the_operating_point_and_records_why(tiny_run, tmp_path: Path) -> None:
    import shutil

    from mlcore.train import recalibrate

    _, run = tiny_run
    copy = tmp_path / "run"
    shutil.copytree(run, copy)
    before = json.loads((copy / "metadata.json").read_text())
    meta = recalibrate(copy, 0.5, "chosen on the site sample")
    stored = json.loads((copy / "metadata.json").read_text())
    assert stored == meta and stored["target_sensitivity"] == 0.5
    assert stored["metrics"]["sensitivity"]["value"] >= 0.5
    assert stored["threshold"] >= before["threshold"]  # a lower target never lowers the cut
    assert stored["operating_point_choice"] == {
        "target_sensitivity": 0.5,
        "previous_target_sensitivity": before["target_sensitivity"],
        "reason": "chosen on the site sample",
    }
    assert stored["sha256"] == before["sha256"]  # the weights are untouched
