"""Evaluation of a bundle (or run folder) on any labelled folder: metrics with CIs, plots, report.md."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from mlcore import calibration, data, metrics, plots
from mlcore.bundle import WEIGHTS_FILE, BundleMetadata, load_bundle
from mlcore.subgroups import record_attributes, subgroup_markdown, subgroup_table


def load_keras_bundle(bundle_dir: str | Path) -> tuple[Any, BundleMetadata]:
    """The Keras model and metadata of a bundle or run folder, after checking model.keras's sha256."""
    import keras

    bundle = load_bundle(bundle_dir, serving=False)
    return keras.models.load_model(bundle.file(WEIGHTS_FILE), compile=False), bundle.metadata


def predict_logits(
    model: Any,
    records: Sequence[data.ImageRecord],
    batch_size: int = 32,
    exposures: list[float] | None = None,
) -> np.ndarray:
    """Raw logits for image files, in chunks (full-resolution originals are decoded one chunk at a time);
    each model input's mean grey level is appended to `exposures` when given."""
    logits = []
    for start in range(0, len(records), batch_size):
        chunk = data.load_images(records[start : start + batch_size]).astype(np.float32)
        logits.append(np.asarray(model.predict_on_batch(chunk))[:, 0])
        if exposures is not None:
            exposures.extend(chunk.mean(axis=(1, 2, 3)).tolist())
    return np.concatenate(logits) if logits else np.zeros(0)


def _fmt(m: dict[str, float]) -> str:
    """`value (ci_low-ci_high)` with three decimals."""
    return f"{m['value']:.3f} ({m['ci_low']:.3f}–{m['ci_high']:.3f})"


def _band_summary(y: np.ndarray, p: np.ndarray, meta: BundleMetadata) -> dict[str, float]:
    """Share of cases flagged indeterminate and the accuracy on the rest."""
    low, high = meta.indeterminate_band
    inside = (p >= low) & (p <= high)
    decided = ~inside
    correct = (p >= meta.threshold).astype(int) == y
    return {
        "indeterminate_fraction": float(inside.mean()),
        "accuracy_outside_band": float(correct[decided].mean()) if decided.any() else float("nan"),
        "errors_inside_band": int((~correct & inside).sum()),
        "errors_total": int((~correct).sum()),
    }


def score(
    y: np.ndarray, logits: np.ndarray, groups: Sequence[str], meta: BundleMetadata, seed: int = 1337
) -> dict[str, Any]:
    """metrics.json content for labels and logits under the bundle's calibration and operating point."""
    p = calibration.calibrated_probability(logits, meta.temperature)
    by_patient = len(set(groups)) < len(groups)
    return {
        "n_images": int(y.size),
        "n_patients": len(set(groups)),
        "class_counts": {"NORMAL": int((y == 0).sum()), "PNEUMONIA": int((y == 1).sum())},
        "threshold": meta.threshold,
        "temperature": meta.temperature,
        "indeterminate_band": list(meta.indeterminate_band),
        "bootstrap": {"resamples": 1000, "unit": "patient" if by_patient else "image", "seed": seed},
        "metrics": metrics.metrics_with_ci(y, p, meta.threshold, groups, seed=seed),
        "ece_uncalibrated": metrics.expected_calibration_error(y, calibration.sigmoid(logits)),
        "confusion": metrics.confusion(y, (p >= meta.threshold).astype(int)),
        "band": _band_summary(y, p, meta),
        "probability_histogram": metrics.probability_histogram(p),
    }


def write_plots(
    y: np.ndarray,
    p: np.ndarray,
    groups: Sequence[str],
    meta: BundleMetadata,
    out: Path,
    history: Path | None,
) -> list[str]:
    """Every evaluation PNG into `out`; returns their file names."""
    t = meta.threshold
    made: list[Path | None] = [
        plots.roc_plot(y, p, t, out / "roc.png"),
        plots.pr_plot(y, p, out / "pr.png"),
        plots.confusion_plot(y, p, t, out / "confusion.png"),
        plots.reliability_plot(y, p, out / "reliability.png"),
        plots.score_histogram_plot(y, p, meta.indeterminate_band, t, out / "score_histograms.png"),
        plots.distribution_plot(list(y), list(groups), out / "distribution.png"),
    ]
    if history is not None:
        made.append(plots.training_curves_plot(history, out / "training_curves.png"))
    return [m.name for m in made if m is not None]


def report_markdown(result: dict[str, Any], meta: BundleMetadata, title: str, images: Sequence[str]) -> str:
    """A human-readable report.md for one evaluation."""
    c, band = result["confusion"], result["band"]
    lines = [
        f"# {title}",
        "",
        f"Model `{meta.version}` (preprocessing `{meta.preprocessing}`).",
        f"{result['n_images']} images from {result['n_patients']} patients "
        f"({result['class_counts']['NORMAL']} NORMAL, {result['class_counts']['PNEUMONIA']} PNEUMONIA).",
        f"Operating point: calibrated P(pneumonia) >= {result['threshold']:.4f} (temperature "
        f"{result['temperature']:.3f}); indeterminate band [{band_fmt(result['indeterminate_band'])}].",
        f"95% CIs: {result['bootstrap']['resamples']} bootstrap resamples by {result['bootstrap']['unit']}.",
        "",
        "| metric | value (95% CI) |",
        "| --- | --- |",
        *[f"| {name} | {_fmt(m)} |" for name, m in result["metrics"].items()],
        "",
        f"ECE before temperature scaling: {result['ece_uncalibrated']:.3f}.",
        f"Confusion (positive = PNEUMONIA): TN {c['tn']}, FP {c['fp']}, FN {c['fn']}, TP {c['tp']}.",
        f"Indeterminate: {band['indeterminate_fraction']:.1%} of images; they hold {band['errors_inside_band']} "
        f"of {band['errors_total']} errors; accuracy on the rest {band['accuracy_outside_band']:.3f}.",
        "",
        *[f"![{Path(name).stem}]({name})" for name in images],
        "",
    ]
    return "\n".join(lines)


def band_fmt(band: Sequence[float]) -> str:
    """`low, high` with four decimals."""
    return f"{band[0]:.4f}, {band[1]:.4f}"


def write_report(
    out_dir: str | Path,
    y: np.ndarray,
    logits: np.ndarray,
    groups: Sequence[str],
    meta: BundleMetadata,
    title: str,
    history: Path | None = None,
    attributes: Sequence[dict[str, str]] | None = None,
) -> dict[str, Any]:
    """metrics.json + PNG plots + report.md into out_dir (with a subgroup table when per-image
    `attributes` are given); returns the metrics."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    result = score(y, logits, groups, meta)
    p = calibration.calibrated_probability(logits, meta.temperature)
    images = write_plots(y, p, groups, meta, out, history)
    text = report_markdown(result, meta, title, images)
    if attributes is not None:
        result["subgroups"] = subgroup_table(y, p, meta.threshold, attributes)
        text += "\n## Subgroups (at the operating point)\n\n" + subgroup_markdown(result["subgroups"])
    (out / "metrics.json").write_text(json.dumps({"title": title, **result}, indent=2))
    (out / "report.md").write_text(text)
    return result


def evaluate_folder(
    model_dir: str | Path, data_dir: str | Path, out_dir: str | Path, title: str = ""
) -> dict:
    """Evaluate a bundle on every labelled image under data_dir and write the report."""
    model, meta = load_keras_bundle(model_dir)
    records = data.scan_folder(data_dir)
    exposures: list[float] = []
    logits = predict_logits(model, records, exposures=exposures)
    y = data.labels_of(records)
    title = title or f"Evaluation on {Path(data_dir)}"
    attributes = record_attributes(records, exposures)
    return write_report(
        out_dir, y, logits, [r.patient_id for r in records], meta, title, attributes=attributes
    )
