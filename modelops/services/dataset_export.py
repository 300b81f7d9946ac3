"""Reviewed studies as a de-identified, labelled data set for retraining (export_reviewed)."""

from __future__ import annotations

import hashlib
import io
import json
import secrets
import shutil
import uuid
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from django.db.models import QuerySet
from django.utils import timezone
from PIL import Image as PILImage
from PIL import ImageOps

from audit.services.events import SYSTEM, AuditContext, audit_record
from diagnosis.models import Study
from portal.errors import DomainError
from portal.spreadsheets import SafeDictWriter
from reading.models import ReadLabel, Review

DEIDENTIFICATION = (
    "What leaves: pixels (JPEG/PNG re-encoded as PNG with no metadata; DICOM through the whole PS3.15 basic "
    "profile table with private tags and the preamble cleared, UIDs remapped with a per-export secret, "
    "patient age retained), the final read, the reviewed AI output and its model version, "
    "priority and sex. What never leaves: names, MRNs, birth dates, accession numbers, free-text notes, "
    "user names, absolute dates, storage keys. Ids are random per export (two exports cannot be "
    "linked); a random patient group id keeps patient-level splits possible. Burned-in text in the "
    "pixels is not detected: review a sample before sharing outside the hospital."
)
COLUMNS = [
    "export_id",
    "patient_group",
    "file",
    "format",
    "final_label",
    "review_decision",
    "review_reason",
    "review_version",
    "ai_label",
    "ai_probability",
    "ai_indeterminate",
    "ai_threshold",
    "model_version",
    "priority",
    "sex",
    "days_since_patient_first_export",
]


@dataclass(frozen=True)
class ExportSummary:
    out_dir: Path
    studies: int
    labels: dict[str, int]
    manifest_sha256: str


def reviewed_studies(
    *, model_version: str | None = None, since: date | None = None, until: date | None = None
) -> QuerySet[Review]:
    """Current NORMAL/PNEUMONIA reads of completed studies (optionally for one model version and a signing
    period). A non-diagnostic read (wrong input, poor quality, other) is no training label: never exported."""
    reads = Review.objects.filter(is_current=True, study__status=Study.Status.COMPLETED).exclude(
        final_label=ReadLabel.NON_DIAGNOSTIC
    )
    if model_version:
        reads = reads.filter(prediction__model_version=model_version)
    if since:
        reads = reads.filter(signed_at__date__gte=since)
    if until:
        reads = reads.filter(signed_at__date__lte=until)
    return reads.select_related("prediction", "study__patient").order_by("study__created_at")


def deidentified_image(data: bytes, image_format: str, *, uid_salt: bytes) -> tuple[bytes, str]:
    """The pixels without identifiers: DICOM through the PS3.15 basic profile, JPEG/PNG as bare PNG."""
    if image_format == "DICOM":
        from mlcore.deidentify import deidentify

        return deidentify(data, uid_salt=uid_salt).data, ".dcm"
    with PILImage.open(io.BytesIO(data)) as image:
        upright = ImageOps.exif_transpose(image)
        out = io.BytesIO()
        # A fresh PNG carries no EXIF, comments or text chunks: only the pixels.
        upright.save(out, format="PNG")
    return out.getvalue(), ".png"


def _row(read: Review, export_id: str, group: str, image_format: str, offset_days: int) -> dict[str, Any]:
    prediction, study = read.prediction, read.study
    return {
        "export_id": export_id,
        "patient_group": group,
        "file": f"images/{export_id}{'.dcm' if image_format == 'DICOM' else '.png'}",
        "format": "DICOM" if image_format == "DICOM" else "PNG",
        "final_label": read.final_label,
        "review_decision": read.decision,
        "review_reason": read.reason,
        "review_version": read.version,
        "ai_label": prediction.label,
        "ai_probability": f"{prediction.probability:.6f}",
        "ai_indeterminate": int(prediction.indeterminate),
        "ai_threshold": f"{prediction.threshold:.6f}",
        "model_version": prediction.model_version,
        "priority": study.priority,
        "sex": study.patient.sex,
        "days_since_patient_first_export": offset_days,
    }


def _write_images(reads: list[Review], images_dir: Path) -> list[dict[str, Any]]:
    """Write each study's image under a random id; return the CSV rows."""
    groups: dict[Any, tuple[str, Any]] = {}
    rows = []
    # A fresh secret per export: UIDs stay consistent inside one export, two exports cannot be joined.
    uid_salt = secrets.token_bytes(32)
    for read in reads:
        study = read.study
        image = study.images.order_by("created_at").first()
        with image.file.open("rb") as handle:
            data, suffix = deidentified_image(handle.read(), image.format, uid_salt=uid_salt)
        export_id = uuid.uuid4().hex
        group, first_seen = groups.setdefault(study.patient_id, (uuid.uuid4().hex[:12], study.created_at))
        (images_dir / f"{export_id}{suffix}").write_bytes(data)
        # Relative days only: absolute dates are dropped, intervals within a patient are kept.
        rows.append(_row(read, export_id, group, image.format, (study.created_at - first_seen).days))
    return rows


def _manifest(out_dir: Path, rows: list[dict[str, Any]], criteria: dict[str, Any]) -> str:
    """manifest.json with counts and sha256 of every file; returns the manifest's own sha256."""
    files = sorted(p for p in out_dir.rglob("*") if p.is_file())
    manifest = {
        "format": "airspace-reviewed-dataset/1",
        "exported_at": timezone.now().replace(microsecond=0).isoformat(),
        "criteria": criteria,
        "studies": len(rows),
        "labels": _label_counts(rows),
        "model_versions": sorted({r["model_version"] for r in rows}),
        "deidentification": DEIDENTIFICATION,
        "sha256": {str(p.relative_to(out_dir)): hashlib.sha256(p.read_bytes()).hexdigest() for p in files},
    }
    text = json.dumps(manifest, indent=2, sort_keys=True, default=str)
    (out_dir / "manifest.json").write_text(text)
    return hashlib.sha256(text.encode()).hexdigest()


def _label_counts(rows: list[dict[str, Any]]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for row in rows:
        counts[row["final_label"]] = counts.get(row["final_label"], 0) + 1
    return dict(sorted(counts.items()))


def dataset_export(
    *,
    out_dir: Path,
    actor: Any = None,
    model_version: str | None = None,
    since: date | None = None,
    until: date | None = None,
    context: AuditContext = SYSTEM,
) -> ExportSummary:
    """Write images/, labels.csv and manifest.json into an empty folder, and audit `dataset.export`."""
    if out_dir.exists() and any(out_dir.iterdir()):
        raise DomainError(f"{out_dir} is not empty; choose a new folder.", code="export_dir_not_empty")
    images_dir = out_dir / "images"
    images_dir.mkdir(parents=True, exist_ok=True)
    reads = list(reviewed_studies(model_version=model_version, since=since, until=until))
    rows = _write_images(reads, images_dir)
    with (out_dir / "labels.csv").open("w", newline="") as handle:
        writer = SafeDictWriter(handle, fieldnames=COLUMNS)
        writer.writeheader()
        writer.writerows(rows)
    criteria = {"model_version": model_version, "since": since, "until": until}
    digest = _manifest(out_dir, rows, criteria)
    summary = ExportSummary(
        out_dir=out_dir, studies=len(rows), labels=_label_counts(rows), manifest_sha256=digest
    )
    # Files are written outside any transaction (a long export must not hold database locks); an
    # export that cannot be audited is removed again.
    try:
        audit_record(
            actor=actor,
            action="dataset.export",
            object_type="dataset",
            object_id=digest[:16],
            after={
                "out_dir": str(out_dir.resolve()),
                "studies": summary.studies,
                "labels": summary.labels,
                "criteria": criteria,
                "manifest_sha256": digest,
            },
            context=context,
        )
    except Exception:
        shutil.rmtree(out_dir, ignore_errors=True)
        raise
    return summary
