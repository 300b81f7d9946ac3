"""MODEL_CARD.md text for a bundle, generated from its metadata so numbers never drift from the bundle."""

from __future__ import annotations

from typing import Any

from mlcore.bundle import BundleMetadata


def _metric_rows(metrics: dict[str, dict[str, float]]) -> list[str]:
    """Markdown rows `| metric | value | 95% CI |`."""
    return [
        f"| {name} | {m['value']:.3f} | {m['ci_low']:.3f}–{m['ci_high']:.3f} |" for name, m in metrics.items()
    ]


def _extra_rows(extra: dict[str, Any]) -> list[str]:
    """One line per additional evaluation folder."""
    rows = []
    for name, result in extra.items():
        m = result["metrics"]
        rows.append(
            f"- `{name}` ({result['n_images']} images, {result['folder']}): accuracy {m['accuracy']['value']:.3f}, "
            f"sensitivity {m['sensitivity']['value']:.3f}, specificity {m['specificity']['value']:.3f}, "
            f"ROC AUC {m['roc_auc']['value']:.3f}. See `report/{name}/report.md`."
        )
    return rows or ["- none"]


def _or_nan(value: float | None) -> float:
    """A recorded number, or NaN where an older bundle did not record it."""
    return float("nan") if value is None else value


def model_card(meta: BundleMetadata, ablations: str = "") -> str:
    """The full model card for one bundle (a packaged one: training, validation and metrics recorded)."""
    t, v, band = meta.training or {}, meta.validation or {}, meta.indeterminate_band
    p, manifest = t["params"], meta.data_manifest_sha256 or ""
    lines = [
        f"# Model card: {meta.version}",
        "",
        "## Intended use",
        "Decision support for clinicians reading **paediatric (ages 1-5) frontal (AP/PA) chest X-rays**: it "
        "estimates the probability of pneumonia and flags uncertain cases as *indeterminate*. It is **not a "
        "diagnosis**, must not be used without a qualified reader, and is **not for adults**, lateral views, "
        "CT, or other body parts (the portal's input gate refuses obvious non-chest images, not all of them).",
        "",
        "## Data",
        "Kermany D. et al., *Identifying Medical Diagnoses and Treatable Diseases by Image-Based Deep Learning*, "
        "Cell 172(5), 2018; Mendeley Data doi:10.17632/rscbjbr9sj.2, licence CC BY 4.0 (Kaggle "
        "'Chest X-Ray Images (Pneumonia)'). Guangzhou Women and Children's Medical Center, AP films of children "
        "aged 1-5. Trained on the official train split (5,216 images) resized to 224x224 "
        f"(manifest sha256 `{manifest[:16]}…`), split **by patient** into train and "
        f"validation (seed {v['split_seed']}, {v['val_fraction']:.0%} of patients per class). Validation: "
        f"{v['n_images']} images of {v['n_patients']} patients ({v['class_counts']['NORMAL']} NORMAL, "
        f"{v['class_counts']['PNEUMONIA']} PNEUMONIA).",
        "",
        "## Validation metrics (patient-level split, held out)",
        "95% CIs from 1,000 bootstrap resamples of patients.",
        "",
        "| metric | value | 95% CI |",
        "| --- | --- | --- |",
        *_metric_rows(meta.metrics or {}),
        "",
        "Other evaluations:",
        *_extra_rows(meta.extra_evaluations or {}),
        "",
        "## Operating point and calibration",
        f"- Temperature scaling fitted on validation logits (min NLL): T = {meta.temperature:.3f}; "
        f"calibrated p = sigmoid(logit / T). ECE (10 equal-width bins) {(meta.metrics or {})['ece']['value']:.3f} "
        f"after vs {_or_nan(meta.ece_uncalibrated):.3f} before.",
        f"- Threshold {meta.threshold:.4f} on calibrated p: the highest cut with validation sensitivity >= "
        f"{_or_nan(meta.target_sensitivity):.2f} (configurable `target_sensitivity`).",
        f"- Indeterminate band [{band[0]:.4f}, {band[1]:.4f}]: a cut at `low` would give validation sensitivity "
        f"{p['band_sensitivity']:.2f}, and above `high` validation specificity is at least "
        f"{p['band_specificity']:.2f} (each at least 0.02 from the threshold); "
        f"{meta.indeterminate_fraction or 0:.1%} of validation images fall inside. Read as "
        "'needs a closer look', reported as `indeterminate` beside the label.",
        "",
        "## Model and training",
        f"- Residual separable-convolution CNN from scratch, {t['params_count']:,} parameters, "
        f"model.keras {t['file_bytes'] / 1e6:.2f} MB; input 224x224x1 raw pixels (preprocessing "
        f"`{meta.preprocessing}`: grayscale, squash to 224 with bicubic, as the training copies were made); "
        f"internal resolution {p['arch']['internal_size']}; `last_conv` -> `gap` -> `logit` for CAM heatmaps.",
        f"- Command: `{t.get('command') or 'python -m mlcore train --data DIR --out RUN_DIR --params FILE'}`, "
        "then `python -m mlcore package`. "
        f"Training took {t['seconds'] / 60:.1f} min for {t['epochs']} epochs on 2 CPU cores (shared with "
        "other jobs), AdamW, cosine LR, early stopping on validation AUC, balanced class weights from counts, "
        f"label smoothing {p['label_smoothing']}, weight decay {p['weight_decay']}.",
        f"- Augmentation (tf.data only): rotation ±{p['augment']['rotation_deg']:.0f}°, shifts, zoom and "
        "aspect changes (uploads arrive at every aspect ratio and are squashed), gamma/contrast/brightness "
        "(exposure differs between machines), mild blur and noise. **No horizontal flip**: the heart is on "
        "the left in essentially every film, and flipped anatomy never occurs at inference.",
        f"- Code revision `{(meta.code_revision or '')[:12]}`, created {meta.created_at}.",
        "",
        "## Measured choices",
        ablations or "Not measured for this bundle.",
        "",
        "## Limits",
        "- Not for adults, lateral views, or non-chest images; one hospital's population and scanners.",
        "- The official test split is shifted from train (its normals look different); expect lower "
        "specificity there than on validation. The threshold was chosen on validation only; the test set was "
        "never used.",
        "- Trained on squashed 224 px copies; full-resolution uploads go through the same resize "
        "(parity tested), but very different aspect ratios distort anatomy more than training saw.",
        "- Labels are image-level pneumonia vs normal; bacterial vs viral is not distinguished.",
        "",
    ]
    return "\n".join(lines)


def _run_row(name: str, meta: BundleMetadata) -> str:
    """One comparison row from a run's metadata."""
    t, m = meta.training or {}, meta.metrics or {}
    p = t["params"]
    return (
        f"| {name} | {p['arch']['internal_size']} | {p['label_smoothing']} | {p['augment']['mixup_alpha']} | "
        f"{m['roc_auc']['value']:.4f} ({m['roc_auc']['ci_low']:.3f}–{m['roc_auc']['ci_high']:.3f}) | "
        f"{m['sensitivity']['value']:.3f} | {m['specificity']['value']:.3f} | {m['accuracy']['value']:.3f} | "
        f"{m['ece']['value']:.3f} | {t['seconds'] / t['epochs']:.0f} |"
    )


def comparison_table(runs: dict[str, BundleMetadata]) -> str:
    """A markdown table comparing short runs (same seed, same patient split, same epochs)."""
    header = [
        "| run | internal px | label smoothing | mixup α | val ROC AUC (95% CI) | sens | spec | acc | ECE | s/epoch |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    return "\n".join([*header, *[_run_row(name, meta) for name, meta in runs.items()]]) + "\n"
