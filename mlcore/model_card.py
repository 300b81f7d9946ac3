"""MODEL_CARD.md text for a bundle, generated from its metadata so numbers never drift from the bundle."""

from __future__ import annotations

from typing import Any

from mlcore.bundle import BundleMetadata
from mlcore.subgroups import subgroup_markdown


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


def _changes_section(meta: BundleMetadata) -> list[str]:
    """What changed from the previous version (metadata `previous_version` / `changes`)."""
    if not meta.extra.get("previous_version"):
        return []
    return [
        f"## What changed from {meta.extra['previous_version']}",
        *[f"- {change}" for change in meta.extra.get("changes", [])],
        "",
    ]


def _balancing_note(augment: dict[str, Any]) -> str:
    """The label-conditional balancing (session 5), when the run used it."""
    parts = []
    if augment.get("zoom_normal_max", 1.0) > 1.0:
        parts.append(f"normal films zoomed in by up to {augment['zoom_normal_max']:.2f}x (framing)")
    if augment.get("aspect_normal", 0) > 0:
        parts.append(
            f"every film re-squashed as if its original's width/height were {augment['aspect_low']:.2f}-"
            f"{augment['aspect_high']:.2f} whatever its class (aspect)"
        )
    if not parts:
        return ""
    return (
        " Label-conditional balancing, so acquisition cues say nothing about the label: "
        + "; ".join(parts)
        + "."
    )


def _choice_lines(choice: dict[str, Any] | None) -> list[str]:
    """Why the target sensitivity differs from the training default, when `recalibrate` changed it."""
    if not choice:
        return []
    return [
        f"- Target sensitivity {choice['target_sensitivity']:.2f} instead of "
        f"{_or_nan(choice.get('previous_target_sensitivity')):.2f}: {choice['reason']}"
    ]


def _site_section(meta: BundleMetadata) -> list[str]:
    """External validation on the shifted site sample, with its subgroup table."""
    site = (meta.extra_evaluations or {}).get("site_sample")
    if not site:
        return []
    c = site["confusion"]
    point = (
        "the operating point is fitted on validation, at a target sensitivity chosen on these images (see "
        "'Operating point and calibration')"
        if "operating_point_choice" in meta.extra
        else "the operating point is the validation one (not refitted on these images)"
    )
    lines = [
        "## External validation: site sample (shifted population)",
        f"{site['n_images']} full-resolution originals from a later collection ({site['folder']}); never "
        f"trained on; {point}. 95% CIs: 1,000 bootstrap resamples by patient. ROC, calibration curve and confusion matrix: "
        "`report/site_sample/report.md`.",
        "",
        "| metric | value | 95% CI |",
        "| --- | --- | --- |",
        *_metric_rows(site["metrics"]),
        "",
        f"Confusion at the shipped operating point: TN {c['tn']}, FP {c['fp']}, FN {c['fn']}, TP {c['tp']}.",
        "",
    ]
    if site.get("subgroups"):
        lines += ["Subgroups (site sample):", "", subgroup_markdown(site["subgroups"])]
    return lines


def _gate_section(meta: BundleMetadata) -> list[str]:
    """Input-gate figures (copied from serving.json into metadata after export)."""
    gate = meta.extra.get("gate") or {}
    kinds = gate.get("real_images", {}).get("negatives_leave_one_kind_out")
    if not kinds:
        return []
    rows = [f"| {k} | {v['n']} | {v['rejected']} | {v['rate']:.2f} |" for k, v in kinds["per_kind"].items()]
    positives = gate.get("rates", {}).get("positives", {})
    lost = ", ".join(f"{name} {v['rejected']} of {v['n']}" for name, v in positives.items())
    return [
        "## Input gate",
        "Refitted on this model's features with the real non-chest images of shared/data/not_cxr (their "
        "evidence vectors are stored in `gate_negatives.npz`, not the images). Each kind is scored by a gate "
        f"fitted without it (leave-one-kind-out): {kinds['rejected']} of {kinds['n']} rejected "
        f"({kinds['rate']:.1%}). Real chest X-rays rejected: {lost or 'not measured'}.",
        "",
        "| kind | n | rejected (gate fitted without this kind) | rate |",
        "| --- | --- | --- | --- |",
        *rows,
        "",
    ]


def _head_note(arch: dict[str, Any]) -> str:
    """The per-image normalisation and CAM head choices, when the architecture records them."""
    notes = []
    if arch.get("normalize", "none") != "none":
        notes.append(f"per-image intensity normalisation inside the model (`{arch['normalize']}`)")
    if arch.get("cam_stride"):
        side = arch["internal_size"] // arch["cam_stride"]
        notes.append(
            f"multi-scale CAM head at stride {arch['cam_stride']}: a {side}x{side} explanation map before "
            "upsampling, deeper stages projected and resized onto it"
        )
    return "; " + "; ".join(notes) if notes else ""


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
        *_site_section(meta),
        "## Operating point and calibration",
        f"- Temperature scaling fitted on validation logits (min NLL): T = {meta.temperature:.3f}; "
        f"calibrated p = sigmoid(logit / T). ECE (10 equal-width bins) {(meta.metrics or {})['ece']['value']:.3f} "
        f"after vs {_or_nan(meta.ece_uncalibrated):.3f} before.",
        f"- Threshold {meta.threshold:.4f} on calibrated p: the highest cut with validation sensitivity >= "
        f"{_or_nan(meta.target_sensitivity):.2f} (configurable `target_sensitivity`).",
        *_choice_lines(meta.extra.get("operating_point_choice")),
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
        f"internal resolution {p['arch']['internal_size']}; `last_conv` -> `gap` -> `logit` for CAM heatmaps"
        f"{_head_note(p['arch'])}.",
        f"- Command: `{t.get('command') or 'python -m mlcore train --data DIR --out RUN_DIR --params FILE'}`, "
        "then `python -m mlcore package`. "
        f"Training took {t['seconds'] / 60:.1f} min for {t['epochs']} epochs on 2 CPU cores (shared with "
        "other jobs), AdamW, cosine LR, early stopping on validation AUC, balanced class weights from counts, "
        f"label smoothing {p['label_smoothing']}, weight decay {p['weight_decay']}.",
        f"- Augmentation (tf.data only): rotation ±{p['augment']['rotation_deg']:.0f}°, shifts, zoom and "
        "aspect changes (uploads arrive at every aspect ratio and are squashed), gamma/contrast/brightness "
        "(exposure differs between machines), mild blur and noise. **No horizontal flip**: the heart is on "
        "the left in essentially every film, and flipped anatomy never occurs at inference."
        f"{_balancing_note(p['augment'])}",
        f"- Code revision `{(meta.code_revision or '')[:12]}`, created {meta.created_at}.",
        "",
        *_changes_section(meta),
        *_gate_section(meta),
        "## Measured choices",
        ablations or "Not measured for this bundle.",
        "",
        "## Limits",
        "- Not for adults, lateral views, or non-chest images; one hospital's population and scanners.",
        "- The official test split is shifted from train (its normals look different); expect lower "
        "specificity there than on validation. "
        + (
            "The threshold and temperature were fitted on validation only, at a target sensitivity chosen on "
            "the site sample; the test set was never used."
            if "operating_point_choice" in meta.extra
            else "The threshold was chosen on validation only; the test set was never used."
        ),
        "- Trained on squashed 224 px copies; full-resolution uploads go through the same resize "
        "(parity tested), but very different aspect ratios distort anatomy more than training saw.",
        "- Labels are image-level pneumonia vs normal; bacterial vs viral is not distinguished.",
        "",
    ]
    return "\n".join(lines)


def _ci(m: dict[str, float], digits: int = 3) -> str:
    """`value (low–high)`."""
    return f"{m['value']:.{digits}f} ({m['ci_low']:.{digits}f}–{m['ci_high']:.{digits}f})"


def _choices(p: dict[str, Any]) -> str:
    """The choices an ablation varies, in one cell."""
    arch, aug = p["arch"], p["augment"]
    cam = f"CAM/{arch['cam_stride']}" if arch.get("cam_stride") else "CAM last"
    return (
        f"{arch['internal_size']} px, {cam}, norm {arch.get('normalize', 'none')}, contrast±{aug['contrast']}"
        f" gamma±{aug['gamma']} zoom±{aug['zoom']} blur {aug['blur_prob']} noise {aug['noise_std']}, "
        f"weights {p.get('class_weighting', 'balanced')}, {p['epochs']} ep"
        + (f" on {p['max_train_images']} images" if p.get("max_train_images") else "")
    )


def _run_row(name: str, meta: BundleMetadata, site: dict[str, Any] | None) -> str:
    """One comparison row from a run's metadata and (when measured) its site_sample metrics."""
    t, m = meta.training or {}, meta.metrics or {}
    cells = [name, _choices(t["params"]), _ci(m["roc_auc"], 4), f"{m['specificity']['value']:.3f}"]
    if site:
        s = site["metrics"]
        cells += [_ci(s["roc_auc"]), _ci(s["sensitivity"]), _ci(s["specificity"]), f"{s['ece']['value']:.3f}"]
    else:
        cells += ["–"] * 4
    cells.append(f"{t['seconds'] / t['epochs']:.0f}")
    return "| " + " | ".join(cells) + " |"


def comparison_table(
    runs: dict[str, BundleMetadata], sites: dict[str, dict[str, Any] | None] | None = None
) -> str:
    """A markdown table comparing short runs (same seed, same patient split); site_sample columns at each
    run's own validation operating point (sensitivity 0.95 on validation)."""
    header = [
        "| run | choices | val ROC AUC (95% CI) | val spec | site ROC AUC (95% CI) | site sens (95% CI) "
        "| site spec (95% CI) | site ECE | s/epoch |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    sites = sites or {}
    rows = [_run_row(name, meta, sites.get(name)) for name, meta in runs.items()]
    return "\n".join([*header, *rows]) + "\n"
