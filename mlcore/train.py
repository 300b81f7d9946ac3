"""Training: params -> patient split -> tf.data -> fit with checkpoints -> calibration -> a run folder.

A run folder holds model.keras (best validation AUC), metadata.json, history.csv, val_predictions.csv,
train.log and the checkpoints it resumes from (last.keras + state.json).
"""

from __future__ import annotations

import csv
import json
import logging
import math
import sys
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from mlcore import calibration, data, metrics
from mlcore.bundle import BundleMetadata, file_sha256, write_metadata
from mlcore.config import INPUT_SIZE, PROJECT_ROOT
from mlcore.preprocessing import PREPROCESSING_VERSION

DEFAULT_PARAMS_PATH = Path(__file__).resolve().parent / "params" / "default.json"
CACHE_DIR = PROJECT_ROOT / "var" / "cache"
log = logging.getLogger("mlcore.train")


def load_params(path: str | Path | None = None, overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    """Default params overlaid (one level deep for dicts) with a params file, then explicit overrides."""
    params = json.loads(DEFAULT_PARAMS_PATH.read_text())
    layers = [json.loads(Path(path).read_text())] if path else []
    for layer in [*layers, overrides or {}]:
        for key, value in layer.items():
            params[key] = {**params[key], **value} if isinstance(value, dict) else value
    return params


def _setup_logging(run_dir: Path) -> None:
    """Log to run_dir/train.log and stderr."""
    root = logging.getLogger("mlcore")
    root.setLevel(logging.INFO)
    for old in list(root.handlers):
        # A second run in the same process (tests) must not keep logging into the first run's file.
        root.removeHandler(old)
        old.close()
    fmt = logging.Formatter("%(asctime)s %(levelname)s %(message)s")
    for handler in (logging.FileHandler(run_dir / "train.log"), logging.StreamHandler(sys.stderr)):
        handler.setFormatter(fmt)
        root.addHandler(handler)


def cosine_lr(epoch: int, params: dict[str, Any]) -> float:
    """Linear warm-up then cosine decay to 2% of the peak, per epoch (resumable by epoch number)."""
    peak, warm, total = params["learning_rate"], params["warmup_epochs"], params["epochs"]
    if epoch < warm:
        return peak * (epoch + 1) / (warm + 1)
    progress = (epoch - warm) / max(1, total - warm)
    return peak * (0.02 + 0.98 * 0.5 * (1.0 + math.cos(math.pi * progress)))


def _compile(model: Any, params: dict[str, Any]) -> None:
    """AdamW + label-smoothed logit BCE, with validation AUC as the tracked metric."""
    import keras

    model.compile(
        optimizer=keras.optimizers.AdamW(params["learning_rate"], weight_decay=params["weight_decay"]),
        loss=keras.losses.BinaryCrossentropy(from_logits=True, label_smoothing=params["label_smoothing"]),
        metrics=[keras.metrics.AUC(from_logits=True, name="auc")],
    )


def _callbacks(run_dir: Path, params: dict[str, Any]) -> list[Any]:
    """LR schedule, CSV history, last/best checkpoints, early stopping on validation AUC, resume state."""
    import keras

    class ResumeState(keras.callbacks.Callback):
        """Record the finished epoch so a restarted run continues from last.keras."""

        def on_epoch_end(self, epoch: int, logs: dict[str, float] | None = None) -> None:
            (run_dir / "state.json").write_text(json.dumps({"epoch": epoch + 1, **(logs or {})}))

    return [
        keras.callbacks.LearningRateScheduler(lambda e: cosine_lr(e, params)),
        keras.callbacks.CSVLogger(str(run_dir / "history.csv"), append=True),
        keras.callbacks.ModelCheckpoint(str(run_dir / "last.keras")),
        keras.callbacks.ModelCheckpoint(
            str(run_dir / "best.keras"), monitor="val_auc", mode="max", save_best_only=True
        ),
        keras.callbacks.EarlyStopping(
            monitor="val_auc", mode="max", patience=params["early_stopping_patience"]
        ),
        ResumeState(),
    ]


def _model_for_run(run_dir: Path, params: dict[str, Any]) -> tuple[Any, int]:
    """A fresh compiled model, or the last checkpoint and its epoch when the run is being resumed."""
    import keras

    from mlcore.model import build_model

    state = run_dir / "state.json"
    if (run_dir / "last.keras").exists() and state.exists():
        epoch = json.loads(state.read_text())["epoch"]
        log.info("resuming from last.keras after epoch %d", epoch)
        return keras.models.load_model(run_dir / "last.keras"), epoch
    model = build_model(params["arch"], INPUT_SIZE)
    _compile(model, params)
    return model, 0


def _write_predictions(path: Path, records: list[data.ImageRecord], logits: np.ndarray) -> None:
    """One CSV row per validation image: file, patient, label, raw logit."""
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["filename", "patient_id", "label", "logit"])
        for record, logit in zip(records, logits, strict=True):
            writer.writerow([record.path.name, record.patient_id, record.label, f"{float(logit):.6f}"])


def read_predictions(path: Path) -> tuple[list[data.ImageRecord], np.ndarray]:
    """The records (file name, label, patient) and raw logits of a val_predictions.csv."""
    with open(path) as handle:
        rows = list(csv.DictReader(handle))
    records = [data.ImageRecord(Path(r["filename"]), int(r["label"]), r["patient_id"], "val") for r in rows]
    return records, np.array([float(r["logit"]) for r in rows])


def git_revision() -> str:
    """The project's git commit, suffixed `+dirty` when mlcore has uncommitted changes ('unknown' outside git)."""
    import subprocess

    def git(*args: str) -> str:
        out = subprocess.run(["git", *args], cwd=PROJECT_ROOT, capture_output=True, text=True, check=True)
        return out.stdout.strip()

    try:
        return git("rev-parse", "HEAD") + ("+dirty" if git("status", "--porcelain", "mlcore") else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def _validation_summary(records: list[data.ImageRecord], params: dict[str, Any]) -> dict[str, Any]:
    """Size, patients and class counts of the validation split."""
    labels = data.labels_of(records)
    return {
        "n_images": len(records),
        "n_patients": len({r.patient_id for r in records}),
        "class_counts": {"NORMAL": int((labels == 0).sum()), "PNEUMONIA": int((labels == 1).sum())},
        "split_seed": params["seed"],
        "val_fraction": params["val_fraction"],
    }


def calibrate_and_score(
    logits: np.ndarray, records: list[data.ImageRecord], params: dict[str, Any]
) -> dict[str, Any]:
    """Operating point, metrics with patient bootstrap CIs and the probability histogram, on validation."""
    labels = data.labels_of(records)
    op = calibration.fit_operating_point(
        logits, labels, params["target_sensitivity"], params["band_sensitivity"], params["band_specificity"]
    )
    p = calibration.calibrated_probability(logits, op.temperature)
    groups = [r.patient_id for r in records]
    uncal = metrics.expected_calibration_error(labels, calibration.sigmoid(logits))
    return {
        "threshold": op.threshold,
        "temperature": op.temperature,
        "indeterminate_band": [op.indeterminate_low, op.indeterminate_high],
        "indeterminate_fraction": float(((p >= op.indeterminate_low) & (p <= op.indeterminate_high)).mean()),
        "target_sensitivity": op.target_sensitivity,
        "metrics": metrics.metrics_with_ci(labels, p, op.threshold, groups, seed=params["seed"]),
        "ece_uncalibrated": uncal,
        "validation_probability_histogram": metrics.probability_histogram(p),
    }


def _fit(run_dir: Path, params: dict[str, Any], arrays: dict[str, Any]) -> tuple[Any, float, int]:
    """Build or resume the model and fit it; returns (best model, seconds, epochs run)."""
    import keras

    from mlcore.augment import make_dataset

    model, initial_epoch = _model_for_run(run_dir, params)
    # "balanced" (default, 1.0.0) or "none": an ablation of the class weighting.
    balanced = params.get("class_weighting", "balanced") == "balanced"
    weights = data.class_weights(arrays["y_train"]) if balanced else {0: 1.0, 1: 1.0}
    log.info("class weights %s; params %d", weights, model.count_params())
    common = {"batch_size": params["batch_size"], "seed": params["seed"]}
    train_ds = make_dataset(
        arrays["x_train"], arrays["y_train"], training=True, class_weight=weights,
        augment=params["augment"], **common,
    )  # fmt: skip
    val_ds = make_dataset(arrays["x_val"], arrays["y_val"], training=False, **common)
    started = time.time()
    # Keras warns that fit's default shuffle=True is ignored for a tf.data input; the pipeline shuffles.
    warnings.filterwarnings("ignore", message="`shuffle=True` was passed")
    model.fit(
        train_ds, validation_data=val_ds, epochs=params["epochs"], initial_epoch=initial_epoch,
        callbacks=_callbacks(run_dir, params), verbose=1 if sys.stderr.isatty() else 2,
    )  # fmt: skip
    seconds = time.time() - started + _previous_seconds(run_dir)
    (run_dir / "seconds.txt").write_text(f"{seconds:.1f}")
    epochs = json.loads((run_dir / "state.json").read_text())["epoch"]
    return keras.models.load_model(run_dir / "best.keras"), seconds, epochs


def _previous_seconds(run_dir: Path) -> float:
    """Training seconds already spent by an interrupted run (0 for a fresh one)."""
    path = run_dir / "seconds.txt"
    return float(path.read_text()) if path.exists() else 0.0


def train(
    data_dir: str | Path,
    run_dir: str | Path,
    params_path: str | Path | None = None,
    overrides: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Train one model end to end and write the run folder; returns its metadata."""
    import keras

    from mlcore.model import configure_threads

    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    _setup_logging(run_dir)
    params = load_params(params_path, overrides)
    (run_dir / "params.json").write_text(json.dumps(params, indent=2))
    configure_threads(params["threads"])
    keras.utils.set_random_seed(params["seed"])
    records = data.scan_folder(data_dir)
    train_records, val_records = data.split_by_patient(records, params["val_fraction"], params["seed"])
    train_records = _subsample(train_records, params.get("max_train_images"), params["seed"])
    manifest = data.manifest_sha256(records, data_dir)
    log.info("%d images: %d train / %d validation", len(records), len(train_records), len(val_records))
    cache = CACHE_DIR if params.get("cache_images", True) else None
    arrays = {
        "x_train": data.load_cached(train_records, cache, manifest + "train", progress=True),
        "y_train": data.labels_of(train_records),
        "x_val": data.load_cached(val_records, cache, manifest + "val", progress=True),
        "y_val": data.labels_of(val_records),
    }
    model, seconds, epochs = _fit(run_dir, params, arrays)
    logits = model.predict(arrays["x_val"].astype(np.float32), batch_size=64, verbose=0)[:, 0]
    _write_predictions(run_dir / "val_predictions.csv", val_records, logits)
    model.save(run_dir / "model.keras")
    meta = _metadata(run_dir, params, manifest, seconds, epochs, model.count_params())
    meta["training"]["command"] = f"python -m mlcore train --data {data_dir} --out {run_dir}" + (
        f" --params {params_path}" if params_path else ""
    )
    meta.update(calibrate_and_score(logits, val_records, params))
    meta["validation"] = _validation_summary(val_records, params)
    write_metadata(run_dir, BundleMetadata.from_dict(meta))
    log.info("validation metrics %s", {k: round(v["value"], 4) for k, v in meta["metrics"].items()})
    return meta


def _subsample(records: list[data.ImageRecord], limit: int | None, seed: int) -> list[data.ImageRecord]:
    """At most `limit` training images, drawn with the seed (short ablation runs only)."""
    if not limit or limit >= len(records):
        return records
    keep = np.sort(np.random.default_rng(seed).choice(len(records), int(limit), replace=False))
    return [records[i] for i in keep]


def _metadata(
    run_dir: Path, params: dict[str, Any], manifest: str, seconds: float, epochs: int, n_params: int
) -> dict[str, Any]:
    """The run's identity: files, data, code and training cost."""
    model_path = run_dir / "model.keras"
    return {
        "version": run_dir.name,
        "sha256": file_sha256(model_path),
        "input_size": INPUT_SIZE,
        "preprocessing": PREPROCESSING_VERSION,
        "data_manifest_sha256": manifest,
        "code_revision": git_revision(),
        "created_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "training": {
            "params": params,
            "seconds": round(seconds, 1),
            "epochs": epochs,
            "params_count": int(n_params),
            "file_bytes": model_path.stat().st_size,
        },
    }


def recalibrate(run_dir: str | Path, target_sensitivity: float, reason: str) -> dict[str, Any]:
    """Refit a finished run's operating point on its validation logits at another target sensitivity.

    The weights are untouched; metadata.json's threshold, band, temperature and validation metrics are
    rewritten, and `operating_point_choice` records the target and why it was chosen (e.g. which target held
    sensitivity >= 0.95 on the site sample, which selects models and operating points but never trains).
    """
    run_dir = Path(run_dir)
    meta_path = run_dir / "metadata.json"
    meta = json.loads(meta_path.read_text())
    params = {**meta["training"]["params"], "target_sensitivity": target_sensitivity}
    records, logits = read_predictions(run_dir / "val_predictions.csv")
    previous = meta.get("target_sensitivity")
    meta.update(calibrate_and_score(logits, records, params))
    meta["operating_point_choice"] = {
        "target_sensitivity": target_sensitivity,
        "previous_target_sensitivity": previous,
        "reason": reason,
    }
    meta_path.write_text(json.dumps(meta, indent=2))
    return meta
