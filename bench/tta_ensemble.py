"""Test-time augmentation and a mean-logit ensemble, on the patient-level validation split and the site sample.

    .venv/bin/python bench/tta_ensemble.py --model 1.0.0=models/airspace-cnn-1.0.0/model.keras \
        --model v2_cam0=runs/v2_cam0/model.keras [--out runs/tta_ens.json]

For each model, with and without TTA, and for the ensemble of all models: the operating point (temperature
and the threshold at validation sensitivity 0.95) is fitted on validation only and applied unchanged to the
site sample, which only selects between candidates. Prints one markdown row each: validation and site ROC
AUC, sensitivity, specificity and ECE, with 95% CIs from 1,000 patient bootstrap resamples.
TTA views: identity, a 6% centre zoom, +-6 px horizontal shifts (no flips: the heart is on the left).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402

from mlcore import calibration, data, metrics  # noqa: E402
from mlcore.config import SHARED_DATA_DIR  # noqa: E402
from mlcore.train import CACHE_DIR  # noqa: E402

SEED, VAL_FRACTION = 1337, 0.18


def views(x: np.ndarray) -> list[np.ndarray]:
    """The TTA views of a (n, 224, 224, 1) batch."""
    import tensorflow as tf

    zoom = tf.image.resize(x[:, 7:-7, 7:-7, :], (224, 224), method="bicubic").numpy()
    return [x, np.clip(zoom, 0, 255), np.roll(x, -6, axis=2), np.roll(x, 6, axis=2)]


def load_sets() -> dict[str, tuple[np.ndarray, np.ndarray, list[str]]]:
    """(inputs, labels, patients) of the validation split (the training split's own) and the site sample."""
    root = SHARED_DATA_DIR / "chest_xray_224" / "train"
    records = data.scan_folder(root)
    _, val = data.split_by_patient(records, VAL_FRACTION, SEED)
    x_val = data.load_cached(val, CACHE_DIR, data.manifest_sha256(records, root) + "val")
    site = data.scan_folder(SHARED_DATA_DIR / "site_sample")
    return {
        "val": (x_val.astype(np.float32), data.labels_of(val), [r.patient_id for r in val]),
        "site": (
            data.load_images(site).astype(np.float32),
            data.labels_of(site),
            [r.patient_id for r in site],
        ),
    }


def score(sets: dict[str, tuple[np.ndarray, np.ndarray, list[str]]], logits: dict[str, np.ndarray]) -> dict:
    """Metrics with CIs on both sets at the operating point fitted on validation."""
    op = calibration.fit_operating_point(logits["val"], sets["val"][1], 0.95)
    out = {"threshold": op.threshold, "temperature": op.temperature}
    for name, (_, labels, groups) in sets.items():
        p = calibration.calibrated_probability(logits[name], op.temperature)
        out[name] = metrics.metrics_with_ci(labels, p, op.threshold, groups, seed=SEED)
    return out


def row(tag: str, result: dict) -> str:
    """One markdown row: validation then site AUC, sensitivity, specificity, ECE (95% CI)."""
    cells = [
        f"{m[k]['value']:.3f} ({m[k]['ci_low']:.3f}-{m[k]['ci_high']:.3f})"
        for m in (result["val"], result["site"])
        for k in ("roc_auc", "sensitivity", "specificity", "ece")
    ]
    return f"| {tag} | " + " | ".join(cells) + " |"


def main() -> None:
    """Predict every view once per model, then print the rows."""
    import keras

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", action="append", required=True, help="NAME=path/to/model.keras")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    sets = load_sets()
    per_view: dict[str, dict[str, np.ndarray]] = {}
    for name, path in (item.split("=", 1) for item in args.model):
        model = keras.models.load_model(path, compile=False)
        per_view[name] = {
            s: np.stack([np.asarray(model.predict(v, batch_size=64, verbose=0))[:, 0] for v in views(x)])
            for s, (x, _, _) in sets.items()
        }
    results = {}
    for name, logits in per_view.items():
        results[name] = score(sets, {s: v[0] for s, v in logits.items()})
        results[f"{name}+tta4"] = score(sets, {s: v.mean(axis=0) for s, v in logits.items()})
    if len(per_view) > 1:
        results["ensemble"] = score(
            sets, {s: np.mean([v[s][0] for v in per_view.values()], axis=0) for s in sets}
        )
        results["ensemble+tta4"] = score(
            sets, {s: np.mean([v[s].mean(axis=0) for v in per_view.values()], axis=0) for s in sets}
        )
    print("| run | val AUC | val sens | val spec | val ECE | site AUC | site sens | site spec | site ECE |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for tag, result in results.items():
        print(row(tag, result))
    if args.out:
        args.out.write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
