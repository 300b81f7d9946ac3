"""Turn a training run folder into a shipped bundle `models/<version>/` with its report and model card."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np

from mlcore import data
from mlcore.bundle import file_sha256
from mlcore.config import CURRENT_POINTER, MODELS_DIR
from mlcore.model_card import model_card


def _val_predictions(run_dir: Path) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Labels, logits and patient ids from a run's val_predictions.csv."""
    with open(run_dir / "val_predictions.csv") as handle:
        rows = list(csv.DictReader(handle))
    y = np.array([int(r["label"]) for r in rows])
    logits = np.array([float(r["logit"]) for r in rows])
    return y, logits, [r["patient_id"] for r in rows]


def save_for_serving(source: Path, target: Path) -> None:
    """Re-save a trained model without its optimizer state (a third of the size, same outputs)."""
    import keras

    trained = keras.models.load_model(source, compile=False)
    clean = keras.models.clone_model(trained)
    clean.set_weights(trained.get_weights())
    clean.save(target)


def _copy_model(run_dir: Path, bundle: Path, version: str) -> dict[str, Any]:
    """model.keras and metadata.json into the bundle, version and sha256 set."""
    bundle.mkdir(parents=True, exist_ok=True)
    save_for_serving(run_dir / "model.keras", bundle / "model.keras")
    meta = json.loads((run_dir / "metadata.json").read_text())
    meta["version"] = version
    meta["sha256"] = file_sha256(bundle / "model.keras")
    meta["training"]["file_bytes"] = (bundle / "model.keras").stat().st_size
    return meta


def _extra_reports(bundle: Path, extra: dict[str, str], meta: dict[str, Any]) -> dict[str, Any]:
    """Evaluate the bundle on additional labelled folders (e.g. full-resolution originals)."""
    from mlcore.evaluate import evaluate_folder

    results = {}
    for name, folder in extra.items():
        result = evaluate_folder(bundle, folder, bundle / "report" / name, title=f"{name}: {folder}")
        results[name] = {
            "folder": str(folder),
            **{k: result[k] for k in ("n_images", "metrics", "confusion")},
        }
    return results


def package_run(
    run_dir: str | Path,
    version: str,
    data_dir: str | Path | None = None,
    extra: dict[str, str] | None = None,
    set_current: bool = False,
    models_dir: Path = MODELS_DIR,
    command: str = "",
) -> Path:
    """Write models/<version>/ (model, metadata, report/, MODEL_CARD.md); optionally point CURRENT at it."""
    from mlcore.evaluate import write_report
    from mlcore.plots import distribution_plot

    run_dir, bundle = Path(run_dir), Path(models_dir) / version
    meta = _copy_model(run_dir, bundle, version)
    meta["training"]["command"] = command or meta["training"].get("command", "")
    (bundle / "metadata.json").write_text(json.dumps(meta, indent=2))
    report = bundle / "report"
    y, logits, groups = _val_predictions(run_dir)
    title = f"{version}: patient-level validation split (held out from training)"
    write_report(report, y, logits, groups, meta, title, history=run_dir / "history.csv")
    shutil.copyfile(run_dir / "history.csv", report / "history.csv")
    shutil.copyfile(run_dir / "val_predictions.csv", report / "val_predictions.csv")
    if data_dir:
        records = data.scan_folder(data_dir)
        distribution_plot(
            list(data.labels_of(records)), [r.patient_id for r in records], report / "training_data.png"
        )
    meta["extra_evaluations"] = _extra_reports(bundle, extra or {}, meta)
    (bundle / "metadata.json").write_text(json.dumps(meta, indent=2))
    (bundle / "MODEL_CARD.md").write_text(model_card(meta, _ablations(run_dir)))
    if set_current:
        (Path(models_dir) / CURRENT_POINTER.name).write_text(version + "\n")
    return bundle


def write_card(run_dir: str | Path, version: str, models_dir: Path = MODELS_DIR) -> Path:
    """Regenerate only MODEL_CARD.md of an existing bundle (e.g. once the ablation table exists)."""
    bundle = Path(models_dir) / version
    meta = json.loads((bundle / "metadata.json").read_text())
    ablations = _ablations(Path(run_dir))
    if ablations:
        (bundle / "report" / "ablations.md").write_text(ablations)
    (bundle / "MODEL_CARD.md").write_text(model_card(meta, ablations))
    return bundle / "MODEL_CARD.md"


def _ablations(run_dir: Path) -> str:
    """The measured-choices table written next to the run, if any."""
    path = run_dir / "ablations.md"
    return path.read_text() if path.exists() else ""
