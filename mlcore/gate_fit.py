"""Fitting and measuring the input gate (offline; used by mlcore.export and `python -m mlcore.gate`).

Positives are split by patient with the training code's own split (mlcore.data.split_by_patient), so the
threshold is set on images whose patients the model never trained on:
1. fit the feature distribution on up to 2,500 training-split images;
2. set thresholds on half of the validation-split patients (calibration);
3. measure false rejections on the other half and on the full-resolution originals;
4. measure rejections on negatives (mlcore.gate_corpus), reported per kind, dev vs held-out kinds.
"""

from __future__ import annotations

import argparse
import json
import zlib
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np

from mlcore.config import PROJECT_ROOT, SEED, SHARED_DATA_DIR
from mlcore.decoding import decode_image
from mlcore.errors import InvalidImage
from mlcore.gate import STAT_NAMES, Evidence, Gate, GateVerdict, Gaussian, gather_evidence
from mlcore.preprocessing import to_model_input

FIT_LIMIT = 2500
SHRINKAGE = 0.05  # covariance shrinkage toward its mean variance: stable inverse in 256 dimensions
# Losing a real chest X-ray is worse than passing an odd image to a clinician who sees it anyway: at 1.15
# three held-out patients' images scored > 0.9 of the threshold; 1.4 keeps every one below ~0.8.
DEEP_QUANTILE, DEEP_MARGIN = 0.998, 1.4
STAT_QUANTILES, STAT_MARGIN = (0.001, 0.999), 0.5
# The 224 training copies are square, so the aspect range cannot be fitted; the originals include a
# 564x194 chest film (aspect 2.9), so only banner-like shapes are refused.
ASPECT_RANGE = (np.log(1 / 3.5), np.log(3.5))


def extract(runner: Any, blobs: Iterable[bytes]) -> list[Evidence]:
    """Decode each image and run the model once; keep the gate's evidence (undecodable files skipped)."""
    evidence = []
    for data in blobs:
        try:
            decoded = decode_image(data)
        except InvalidImage:
            continue
        x = to_model_input(decoded.image)
        _, conv = runner.run(x[np.newaxis])
        evidence.append(gather_evidence(decoded, x, conv[0]))
    return evidence


def fit_gaussian(fit: np.ndarray, calibration: np.ndarray, quantile: float, margin: float) -> Gaussian:
    """Mean and shrunk precision from `fit`; threshold = margin x the calibration distances' quantile."""
    mean = fit.mean(axis=0)
    cov = np.cov(fit, rowvar=False)
    shrunk = (1 - SHRINKAGE) * cov + SHRINKAGE * np.trace(cov) / cov.shape[0] * np.eye(cov.shape[0])
    provisional = Gaussian(mean, np.linalg.pinv(shrunk))
    threshold = float(np.quantile(provisional.distance(calibration), quantile) * margin)
    return Gaussian(mean, provisional.precision, threshold)


def fit_gate(fit: list[Evidence], calibration: list[Evidence]) -> Gate:
    """Gaussians fitted on `fit`, thresholds from `calibration` quantiles (positives only)."""
    deep = fit_gaussian(_stack(fit, "features"), _stack(calibration, "features"), DEEP_QUANTILE, DEEP_MARGIN)
    layout = fit_gaussian(_stack(fit, "layout"), _stack(calibration, "layout"), DEEP_QUANTILE, DEEP_MARGIN)
    # Image statistics do not depend on the model's weights: fit their ranges on all positives we have.
    low, high = np.quantile(_stack(fit + calibration, "stats"), STAT_QUANTILES, axis=0)
    width = np.maximum(high - low, 1e-6)
    low, high = low - STAT_MARGIN * width, high + STAT_MARGIN * width
    aspect = STAT_NAMES.index("log_aspect")
    low[aspect], high[aspect] = ASPECT_RANGE
    return Gate(deep, layout, low, high)


def _stack(evidence: list[Evidence], name: str) -> np.ndarray:
    """One attribute of many evidences as an (n, k) array."""
    return np.stack([getattr(e, name) for e in evidence])


def positive_splits(metadata: dict[str, Any]) -> dict[str, list[Path]] | None:
    """fit / calibration / test image paths from the shared 224 training copies, split by patient."""
    root = SHARED_DATA_DIR / "chest_xray_224" / "train"
    if not root.is_dir():
        return None
    from mlcore.data import scan_folder, split_by_patient

    params = (
        metadata.get("training", {}).get("params", {}) if isinstance(metadata.get("training"), dict) else {}
    )
    # The training run's own patient split: its validation patients are unseen by the weights.
    fraction = float(params.get("val_fraction", 0.18))
    train, val = split_by_patient(
        scan_folder(root), val_fraction=fraction, seed=int(params.get("seed", SEED))
    )
    rng = np.random.default_rng(SEED)
    fit = [train[i].path for i in sorted(rng.choice(len(train), min(FIT_LIMIT, len(train)), replace=False))]
    # Half the validation patients calibrate, the other half test (stable hash of the patient id).
    calibration = [r.path for r in val if zlib.crc32(r.patient_id.encode()) % 2 == 0]
    test = [r.path for r in val if zlib.crc32(r.patient_id.encode()) % 2 == 1]
    return {"fit": fit, "calibration": calibration, "test": test}


def fixture_paths() -> list[Path]:
    """The committed fixture X-rays (fallback when the shared data is absent, e.g. a fresh clone)."""
    return sorted((PROJECT_ROOT / "tests" / "fixtures" / "xrays").glob("*/*.jpg"))


def fit_gate_for_bundle(
    bundle_dir: Path, metadata: dict[str, Any], *, use_shared: bool = True
) -> tuple[Gate, dict[str, Any]]:
    """Fit the gate for a bundle's model on the shared data (or the fixtures when it is absent)."""
    from mlcore.inference import LiteRTRunner

    runner = LiteRTRunner(bundle_dir / "model.tflite")
    splits = positive_splits(metadata) if use_shared else None
    if splits is None:
        paths = fixture_paths()
        splits = {"fit": paths, "calibration": paths, "test": []}
    fit = extract(runner, (p.read_bytes() for p in splits["fit"]))
    calibration = extract(runner, (p.read_bytes() for p in splits["calibration"]))
    gate = fit_gate(fit, calibration)
    info = {
        "fitted_on": "shared chest_xray_224 train (patient split)"
        if splits["test"]
        else "test fixtures only",
        "fit_images": len(fit),
        "calibration_images": len(calibration),
        "deep_threshold": gate.deep.threshold,
        "layout_threshold": gate.layout.threshold,
        "stat_ranges": {
            n: [float(a), float(b)] for n, a, b in zip(STAT_NAMES, gate.stat_low, gate.stat_high, strict=True)
        },
    }
    return gate, info


def verdicts(runner: Any, gate: Gate, blobs: Iterable[bytes]) -> list[GateVerdict]:
    """The gate's verdict on each decodable image."""
    return [gate.check(evidence) for evidence in extract(runner, blobs)]


def rejection_rate(items: list[GateVerdict]) -> dict[str, Any]:
    """Rejected fraction, count and which component rejected."""
    rejected = [v for v in items if not v.accepted]
    by = {c: sum(v.component == c for v in rejected) for c in sorted({v.component for v in rejected})}
    # How many each component would reject on its own (components overlap).
    fired = {
        c: sum(v.scores.get(c, 0.0) > 1.0 for v in items)
        for c in sorted({c for v in items for c in v.scores})
    }
    return {
        "n": len(items),
        "rejected": len(rejected),
        "rate": len(rejected) / max(len(items), 1),
        "reason_given": by,
        "each_component_alone": {c: n for c, n in fired.items() if n},
    }


def evaluate_gate_rates(bundle_dir: Path, per_kind: int = 40) -> dict[str, Any]:
    """False-rejection rates on held-out chest X-rays and rejection rates on negatives, per kind."""
    from mlcore.bundle import read_metadata
    from mlcore.gate_corpus import DEV_KINDS, HELDOUT_KINDS, negative_corpus
    from mlcore.inference import LiteRTRunner

    runner, gate = LiteRTRunner(bundle_dir / "model.tflite"), Gate.load(bundle_dir / "gate.npz")
    rates: dict[str, Any] = {"positives": {}, "negatives": {}}
    splits = positive_splits(read_metadata(bundle_dir)) or {}
    originals = sorted((SHARED_DATA_DIR / "originals").glob("*/*/*.jpeg"))
    for name, paths in (("heldout_patients_224", splits.get("test", [])), ("originals_fullres", originals)):
        if paths:
            rates["positives"][name] = rejection_rate(verdicts(runner, gate, (p.read_bytes() for p in paths)))
    for kind, blobs in negative_corpus(per_kind).items():
        rates["negatives"][kind] = rejection_rate(verdicts(runner, gate, blobs))
    for group, kinds in (("dev_kinds", DEV_KINDS), ("heldout_kinds", HELDOUT_KINDS)):
        n = sum(rates["negatives"][k]["n"] for k in kinds)
        r = sum(rates["negatives"][k]["rejected"] for k in kinds)
        rates[group] = {"n": n, "rejected": r, "rate": r / max(n, 1)}
    return rates


def cli() -> None:
    """`python -m mlcore.gate --evaluate [BUNDLE]`: measure the bundle's fitted gate and print the rates."""
    from mlcore.bundle import resolve_bundle_dir

    parser = argparse.ArgumentParser(description="Measure the input gate of a bundle.")
    parser.add_argument("--evaluate", action="store_true", help="measure rejection rates (the default)")
    parser.add_argument("bundle", nargs="?", help="bundle folder (default: models/CURRENT)")
    parser.add_argument("--per-kind", type=int, default=40, help="negatives per kind")
    args = parser.parse_args()
    print(json.dumps(evaluate_gate_rates(resolve_bundle_dir(args.bundle), args.per_kind), indent=2))
