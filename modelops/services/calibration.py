"""Site calibration: fit an operating profile on this site's signed reads (or a labelled folder), with the
before/after figures estimated out of sample (mlcore.site_calibration), and propose or activate it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np

from audit.services.events import SYSTEM, AuditContext
from mlcore import InvalidImage, RejectedImage
from mlcore.bundle import Bundle
from mlcore.calibration import logit_from_probability
from mlcore.data import patient_id_from_name
from mlcore.site_calibration import FitSettings, SiteProfile, TooFewReads, calibrate_site
from modelops.models import OperatingProfile
from modelops.services.dataset_export import reviewed_studies
from modelops.services.profiles import profile_activate, profile_active, profile_create
from portal.errors import DomainError
from reading.models import ReadLabel

CLASSES = {"NORMAL": 0, "PNEUMONIA": 1}
FIGURE_NAMES = {
    "sensitivity": "Sensitivity",
    "specificity": "Specificity",
    "ece": "Calibration error (ECE)",
    "indeterminate_share": "Indeterminate share",
}
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".dcm"}


@dataclass(frozen=True)
class LabelledReads:
    """Raw logits with their reference labels and patient groups, and where they came from."""

    logits: list[float]
    labels: list[int]
    groups: list[str]
    source: str
    description: dict[str, Any]


def _stored_logit(prediction: Any, bundle: Bundle) -> float:
    """The prediction's raw logit; older rows have none, so it is recovered from the probability with the
    calibration that produced it (its profile's, else the bundle's temperature)."""
    if prediction.logit is not None:
        return float(prediction.logit)
    profile = prediction.operating_profile
    temperature = profile.temperature if profile else bundle.metadata.temperature
    bias = profile.bias if profile else 0.0
    return float(logit_from_probability(np.array([prediction.probability]), temperature, bias)[0])


def reads_from_reviews(*, bundle: Bundle, since: date | None = None) -> LabelledReads:
    """The current NORMAL/PNEUMONIA reads of completed studies whose read prediction came from this
    bundle's version; a patient's studies stay in one fold."""
    reads = reviewed_studies(model_version=bundle.version, since=since).select_related(
        "prediction__operating_profile"
    )
    rows = [
        (_stored_logit(read.prediction, bundle), CLASSES[read.final_label], str(read.study.patient_id))
        for read in reads
        if read.final_label in (ReadLabel.NORMAL, ReadLabel.PNEUMONIA)
    ]
    logits, labels, groups = (list(column) for column in zip(*rows, strict=True)) if rows else ([], [], [])
    since_text = since.isoformat() if since else None
    return LabelledReads(logits, labels, groups, OperatingProfile.Source.REVIEWS, {"since": since_text})


def reads_from_folder(*, directory: Path, predictor: Any) -> LabelledReads:
    """Every image under DIR/NORMAL and DIR/PNEUMONIA through the model (patients from Kermany file names);
    images the model cannot read or the gate refuses are counted and left out."""
    logits: list[float] = []
    labels: list[int] = []
    groups: list[str] = []
    skipped = 0
    for name, label in CLASSES.items():
        folder = Path(directory) / name
        if not folder.is_dir():
            raise DomainError(f"{folder} is not a folder: --data needs NORMAL/ and PNEUMONIA/ inside.")
        for path in sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES):
            try:
                result = predictor.predict(path.read_bytes())
            except (InvalidImage, RejectedImage):
                skipped += 1
                continue
            logits.append(float(result.logit))
            labels.append(label)
            groups.append(f"{name}/{patient_id_from_name(path.name)}")
    description = {"data": str(directory), "skipped_images": skipped}
    return LabelledReads(logits, labels, groups, OperatingProfile.Source.DATA, description)


def _current_rule(profile: OperatingProfile) -> SiteProfile:
    low, high = profile.band
    return SiteProfile(profile.temperature, profile.bias, profile.threshold, low, high)


def site_calibration_propose(
    *,
    bundle: Bundle,
    reads: LabelledReads,
    settings: FitSettings,
    user: Any = None,
    context: AuditContext = SYSTEM,
) -> OperatingProfile:
    """Fit a profile on the reads and store it, inactive, with its cross-validated figures (audited).

    Too few reads of a class is a DomainError saying how many are needed.
    """
    current = profile_active(bundle=bundle)
    try:
        result = calibrate_site(reads.logits, reads.labels, reads.groups, _current_rule(current), settings)
    except TooFewReads as exc:
        raise DomainError(str(exc), code="too_few_reads") from exc
    fitted = result["profile"]
    metrics = {**result, "reads": reads.description, "before_profile": current.pk}
    return profile_create(
        model_version=bundle.version,
        temperature=fitted["temperature"],
        bias=fitted["bias"],
        threshold=fitted["threshold"],
        band=(fitted["low"], fitted["high"]),
        target_sensitivity=settings.target_sensitivity,
        source=reads.source,
        metrics=metrics,
        user=user,
        context=context,
    )


def site_calibrate(
    *,
    bundle: Bundle,
    reads: LabelledReads,
    settings: FitSettings,
    activate: bool = False,
    override_reason: str = "",
    user: Any = None,
    context: AuditContext = SYSTEM,
) -> OperatingProfile:
    """Propose a profile and, with `activate`, make it active (the safety rail may ask for a reason)."""
    profile = site_calibration_propose(
        bundle=bundle, reads=reads, settings=settings, user=user, context=context
    )
    if activate:
        profile = profile_activate(
            profile=profile, user=user, override_reason=override_reason, context=context
        )
    return profile


def figures_table(profile: OperatingProfile) -> list[dict[str, Any]]:
    """Before/after rows for pages and the command: figure, before, after, change (each value with CI)."""
    metrics = profile.metrics or {}
    rows = []
    for name, words in FIGURE_NAMES.items():
        cells = [(metrics.get(part) or {}).get(name) for part in ("before", "after", "delta")]
        rows.append(
            {
                "figure": name,
                "name": words,
                "before": cells[0],
                "after": cells[1],
                "delta": cells[2],
                "cells": cells,
            }
        )
    return rows
