"""Turn a training run folder into a shipped bundle `models/<version>/` with its report and model card."""

from __future__ import annotations

import json
import shutil
from dataclasses import replace
from pathlib import Path
from typing import Any

from mlcore import data
from mlcore.bundle import WEIGHTS_FILE, BundleMetadata, file_sha256, read_bundle_metadata, write_metadata
from mlcore.config import CURRENT_POINTER, MODELS_DIR
from mlcore.evaluate import evaluate_folder, write_report
from mlcore.model_card import model_card
from mlcore.plots import distribution_plot
from mlcore.train import read_predictions


def save_for_serving(source: Path, target: Path) -> None:
    """Re-save a trained model without its optimizer state (a third of the size, same outputs)."""
    import keras

    trained = keras.models.load_model(source, compile=False)
    clean = keras.models.clone_model(trained)
    clean.set_weights(trained.get_weights())
    clean.save(target)


def _copy_model(run_dir: Path, bundle: Path, version: str, command: str) -> BundleMetadata:
    """model.keras and metadata.json into the bundle: the run's metadata with version, sha256, size set."""
    bundle.mkdir(parents=True, exist_ok=True)
    save_for_serving(run_dir / WEIGHTS_FILE, bundle / WEIGHTS_FILE)
    run_meta = read_bundle_metadata(run_dir)
    training = dict(run_meta.training or {})
    training["file_bytes"] = (bundle / WEIGHTS_FILE).stat().st_size
    training["command"] = command or training.get("command", "")
    meta = replace(run_meta, version=version, sha256=file_sha256(bundle / WEIGHTS_FILE), training=training)
    write_metadata(bundle, meta)
    return meta


def _extra_reports(bundle: Path, extra: dict[str, str]) -> dict[str, Any]:
    """Evaluate the bundle on additional labelled folders (e.g. full-resolution originals)."""
    results = {}
    for name, folder in extra.items():
        result = evaluate_folder(bundle, folder, bundle / "report" / name, title=f"{name}: {folder}")
        results[name] = {
            "folder": str(folder),
            **{k: result[k] for k in ("n_images", "metrics", "confusion", "band")},
            **({"subgroups": result["subgroups"]} if "subgroups" in result else {}),
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
    run_dir, bundle = Path(run_dir), Path(models_dir) / version
    meta = _copy_model(run_dir, bundle, version, command)
    report = bundle / "report"
    records, logits = read_predictions(run_dir / "val_predictions.csv")
    y, groups = data.labels_of(records), [r.patient_id for r in records]
    title = f"{version}: patient-level validation split (held out from training)"
    write_report(report, y, logits, groups, meta, title, history=run_dir / "history.csv")
    shutil.copyfile(run_dir / "history.csv", report / "history.csv")
    shutil.copyfile(run_dir / "val_predictions.csv", report / "val_predictions.csv")
    if data_dir:
        records = data.scan_folder(data_dir)
        distribution_plot(
            list(data.labels_of(records)), [r.patient_id for r in records], report / "training_data.png"
        )
    meta = replace(meta, extra_evaluations=_extra_reports(bundle, extra or {}))
    meta = replace(meta, extra={**meta.extra, **_run_notes(run_dir, bundle)})
    write_metadata(bundle, meta)
    (bundle / "MODEL_CARD.md").write_text(model_card(meta, _ablations(run_dir)))
    if set_current:
        (Path(models_dir) / CURRENT_POINTER.name).write_text(version + "\n")
    return bundle


def write_card(run_dir: str | Path, version: str, models_dir: Path = MODELS_DIR) -> Path:
    """Regenerate only MODEL_CARD.md of an existing bundle (e.g. once the ablation table exists)."""
    bundle = Path(models_dir) / version
    meta = read_bundle_metadata(bundle)
    meta = replace(meta, extra={**meta.extra, **_run_notes(Path(run_dir), bundle)})
    write_metadata(bundle, meta)
    ablations = _ablations(Path(run_dir))
    if ablations:
        (bundle / "report" / "ablations.md").write_text(ablations)
    (bundle / "MODEL_CARD.md").write_text(model_card(meta, ablations))
    return bundle / "MODEL_CARD.md"


def add_evaluations(bundle: Path, extra: dict[str, str]) -> Path:
    """Evaluate an existing bundle on more labelled folders (e.g. the site sample) and record them in its
    metadata.json, report/ and MODEL_CARD.md; model.keras and the serving artifacts are untouched."""
    meta = read_bundle_metadata(bundle)
    evaluations = {**(meta.extra_evaluations or {}), **_extra_reports(bundle, extra)}
    meta = replace(meta, extra_evaluations=evaluations)
    meta = replace(meta, extra={**meta.extra, **_run_notes(bundle / "report", bundle)})
    write_metadata(bundle, meta)
    (bundle / "MODEL_CARD.md").write_text(model_card(meta, _ablations(bundle / "report")))
    return bundle


def _run_notes(run_dir: Path, bundle: Path) -> dict[str, Any]:
    """Figures measured around the run, for metadata.json (the model page and card read them there):
    `previous_version` / `changes` (run_dir/changes.json, written by whoever trained the run), the serving
    figures of serving.json once exported (gate, parity, LiteRT timing) and run_dir/bench.json."""
    notes: dict[str, Any] = {}
    if (run_dir / "changes.json").exists():
        notes.update(json.loads((run_dir / "changes.json").read_text()))
    if (bundle / "serving.json").exists():
        serving = json.loads((bundle / "serving.json").read_text())
        notes.update({k: serving[k] for k in ("gate", "parity", "backend_timing") if k in serving})
    if (run_dir / "bench.json").exists():
        notes["bench_inference"] = json.loads((run_dir / "bench.json").read_text())
    return notes


def _ablations(run_dir: Path) -> str:
    """The measured-choices table written next to the run, if any."""
    path = run_dir / "ablations.md"
    return path.read_text() if path.exists() else ""
