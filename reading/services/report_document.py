"""What a signed report says: one frozen document built from a report version, used by the PDF and the print page.

Everything comes from the rows as they stand for that version (its review and the reviews before it), so a
PDF rendered later for an old version says what it said when it was signed.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from diagnosis.models import Prediction, Study
from reading.models import ReadLabel, Report, Review

DECISION_SUPPORT = "AI decision support — not a diagnosis. The radiologist's read above is final."


@dataclass(frozen=True)
class ReadEntry:
    """One signed version of the read, as the amendment history lists it."""

    version: int
    label: str
    decision: str
    reason: str
    note: str
    reader: str
    signed_at: dt.datetime
    amendment_reason: str


@dataclass(frozen=True)
class AiEntry:
    """The AI result the read was signed against, labelled as decision support."""

    verdict: str
    probability: float
    threshold: float
    model_version: str
    operating_profile: str
    run_number: int
    analysed_at: dt.datetime
    heatmap_shown: bool
    heatmap_note: str


@dataclass(frozen=True)
class ReportDocument:
    """The report of one version: patient, study, indication, final read, AI result, history."""

    report_id: str
    study_id: str
    version: int
    status: str
    patient_name: str
    mrn: str
    birth_date: dt.date | None
    sex: str
    age_at_study: str
    accession: str
    study_date: dt.date | None
    priority: str
    department: str
    requested_by: str
    received_at: dt.datetime
    indication: str
    final: ReadEntry
    ai: AiEntry
    history: tuple[ReadEntry, ...]  # oldest first, up to and including this version


def person(user: Any) -> str:
    """A user as a report names them: "Full Name (username)", or the username alone."""
    full = user.get_full_name().strip()
    return f"{full} ({user.get_username()})" if full else user.get_username()


def age_at(birth_date: dt.date | None, on: dt.date | None) -> str:
    """Age at the study in years, or months under two ("" when the birth date is unknown)."""
    if birth_date is None or on is None or on < birth_date:
        return ""
    months = (on.year - birth_date.year) * 12 + on.month - birth_date.month - (on.day < birth_date.day)
    return f"{months} months" if months < 24 else f"{months // 12} years"


def _read_entry(review: Review) -> ReadEntry:
    return ReadEntry(
        version=review.version,
        label=ReadLabel(review.final_label).label,
        decision=review.get_decision_display(),
        reason=review.get_reason_display() if review.reason else "",
        note=review.note,
        reader=person(review.reviewer),
        signed_at=review.signed_at,
        amendment_reason=review.amendment_reason,
    )


def _heatmap_policy(prediction: Prediction, review: Review) -> tuple[bool, str]:
    """The heatmap only for a Pneumonia result that the read does not contradict (as on the study page)."""
    if not prediction.heatmap:
        return False, "No heatmap was recorded for this analysis."
    if prediction.label != "PNEUMONIA" or prediction.indeterminate:
        return False, "Heatmap not shown: it is offered only for a Pneumonia result."
    if review.final_label != "PNEUMONIA":
        return False, "Heatmap not shown: the final read does not confirm the AI's Pneumonia result."
    return True, "Heatmap: where the model's evidence for pneumonia lies (decision support only)."


def _profile_text(prediction: Prediction) -> str:
    """The operating profile that labelled the prediction, as the study page names it."""
    profile = prediction.operating_profile
    if profile is None:
        return "the bundle's calibration (recorded before site profiles)"
    since = f" (active from {profile.activated_at:%Y-%m-%d %H:%M})" if profile.activated_at else ""
    return f"#{profile.pk} · {profile.get_source_display()}{since}"


def _ai_entry(prediction: Prediction, review: Review) -> AiEntry:
    verdict = (
        "Indeterminate — needs a closer look" if prediction.indeterminate else prediction.get_label_display()
    )
    shown, note = _heatmap_policy(prediction, review)
    return AiEntry(
        verdict=verdict,
        probability=prediction.probability,
        threshold=prediction.threshold,
        model_version=prediction.model_version,
        operating_profile=_profile_text(prediction),
        run_number=prediction.run_number,
        analysed_at=prediction.created_at,
        heatmap_shown=shown,
        heatmap_note=note,
    )


def report_document(report: Report) -> ReportDocument:
    """Assemble the document of one report version (a handful of queries)."""
    review = Review.objects.select_related("reviewer", "prediction__operating_profile").get(
        id=report.review_id
    )
    study = Study.objects.select_related("patient", "department", "created_by").get(id=report.study_id)
    history = Review.objects.select_related("reviewer").filter(study=study, version__lte=report.version)
    patient = study.patient
    on = study.study_date or study.created_at.date()
    return ReportDocument(
        report_id=str(report.id),
        study_id=str(study.id),
        version=report.version,
        status=report.status,
        patient_name=patient.name,
        mrn=patient.mrn,
        birth_date=patient.birth_date,
        sex=patient.get_sex_display(),
        age_at_study=age_at(patient.birth_date, on),
        accession=study.accession_number,
        study_date=study.study_date,
        priority=study.get_priority_display(),
        department=study.department.name if study.department else "",
        requested_by=person(study.created_by),
        received_at=study.created_at,
        indication=study.clinical_notes,
        final=_read_entry(review),
        ai=_ai_entry(review.prediction, review),
        history=tuple(_read_entry(r) for r in history.order_by("version")),
    )
