"""Model monitoring: how the AI agrees with radiologists' final reads, and whether its inputs drift.

One selector-style entry point, `monitoring_report`, gathers the figures per model version and period
(the statistics themselves live in monitoring_stats). The reference standard is each study's *current*
final read (amendments replace earlier versions).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from django.db.models import QuerySet

from diagnosis.models import Label, Prediction, Study
from mlcore import BundleError
from mlcore.bundle import read_metadata
from mlcore.config import MODELS_DIR
from modelops.selectors import active_bundle
from modelops.services.monitoring_stats import (
    Confusion,
    agreement_figures,
    cohen_kappa,
    distribution_figures,
    fractions,
    histogram,
    proportion,
    psi,
    ratio,
    validation_histogram,
)
from reading.models import NON_DIAGNOSTIC_REASONS, ReadLabel, Review

# (study id, AI label, probability, created_at, indeterminate) for one prediction
Row = tuple[Any, str, float, Any, bool]


def bundle_metadata(model_version: str, models_dir: Path = MODELS_DIR) -> dict[str, Any] | None:
    """The metadata of the bundle whose folder or recorded version is `model_version` (never a path join)."""
    if not models_dir.is_dir():
        return None
    for folder in sorted(p for p in models_dir.iterdir() if (p / "metadata.json").is_file()):
        try:
            metadata = read_metadata(folder)
        except BundleError:
            continue
        if model_version in (folder.name, str(metadata.get("version", ""))):
            return metadata
    return None


def current_model_version() -> str | None:
    """The version the portal serves now (the active bundle), if one is installed."""
    try:
        return active_bundle().version
    except BundleError:
        return None


def _in_period(queryset: QuerySet[Any], field: str, date_from: date | None, date_to: date | None) -> Any:
    if date_from:
        queryset = queryset.filter(**{f"{field}__date__gte": date_from})
    if date_to:
        queryset = queryset.filter(**{f"{field}__date__lte": date_to})
    return queryset


def _override_counts(decisions: list[tuple[str, str]]) -> dict[str, Any]:
    reasons = Counter(reason for decision, reason in decisions if decision == Review.Decision.OVERRIDE)
    return {"total": sum(reasons.values()), "by_reason": {c: reasons[c] for c in Review.Reason.values}}


def _current_reads(mine: QuerySet[Prediction]) -> dict[Any, str]:
    """study id -> final label of its current read, for the studies these predictions belong to."""
    reads = Review.objects.filter(is_current=True, study__in=mine.values("study"))
    return dict(reads.values_list("study_id", "final_label"))


def _pairs(rows: list[Row], finals: dict[Any, str]) -> list[tuple[str, str]]:
    """(AI label, final read) per reviewed study; a study re-run on the same version counts once (latest).

    Non-diagnostic reads (wrong input, poor quality, other) have no NORMAL/PNEUMONIA truth: they are left
    out of agreement, sensitivity and specificity and counted apart (non_diagnostic_figures).
    """
    latest = {row[0]: row[1] for row in rows}  # rows are oldest first
    return [
        (label, finals[study])
        for study, label in latest.items()
        if study in finals and finals[study] != ReadLabel.NON_DIAGNOSTIC
    ]


def non_diagnostic_figures(mine: QuerySet[Prediction]) -> dict[str, Any]:
    """Studies whose current read is non-diagnostic, in total and by reason (excluded from accuracy)."""
    reads = Review.objects.filter(
        is_current=True, final_label=ReadLabel.NON_DIAGNOSTIC, study__in=mine.values("study")
    )
    reasons = Counter(reads.values_list("reason", flat=True))
    return {"total": sum(reasons.values()), "by_reason": {c: reasons[c] for c in NON_DIAGNOSTIC_REASONS}}


def weekly_figures(
    rows: list[Row], finals: dict[Any, str], validation: list[float] | None
) -> list[dict[str, Any]]:
    """Per week (Monday start, UTC): predictions, reviewed studies, agreement, kappa and PSI."""
    weeks: dict[date, list[Row]] = defaultdict(list)
    for row in rows:
        weeks[row[3].date() - timedelta(days=row[3].weekday())].append(row)
    trend = []
    for start in sorted(weeks):
        confusion = Confusion.from_pairs(_pairs(weeks[start], finals))
        live = fractions(histogram(row[2] for row in weeks[start]))
        trend.append(
            {
                "week_start": start,
                "predictions": len(weeks[start]),
                "reviewed": confusion.n,
                "agreement": ratio(confusion.tp + confusion.tn, confusion.n),
                "kappa": cohen_kappa(confusion),
                "psi": psi(validation, live) if validation and live else None,
            }
        )
    return trend


def model_figures(predictions: QuerySet[Prediction], version: str, models_dir: Path) -> dict[str, Any]:
    """Every figure for one model version over the predictions given."""
    mine = predictions.filter(model_version=version)
    rows: list[Row] = list(
        mine.order_by("created_at", "id").values_list(
            "study_id", "label", "probability", "created_at", "indeterminate"
        )
    )
    finals = _current_reads(mine)
    pairs = _pairs(rows, finals)
    # Overrides belong to the output the radiologist was shown: reviews that point at this version.
    decisions = list(
        Review.objects.filter(is_current=True, prediction__in=mine).values_list("decision", "reason")
    )
    metadata = bundle_metadata(version, models_dir)
    validation = validation_histogram(metadata or {})
    non_diagnostic = non_diagnostic_figures(mine)
    return {
        "model_version": version,
        "bundle_found": metadata is not None,
        "volume": {
            "predictions": len(rows),
            "studies": len({row[0] for row in rows}),
            "reviewed": len(pairs),
            "indeterminate": sum(1 for row in rows if row[4]),
            "non_diagnostic": non_diagnostic["total"],
        },
        **agreement_figures(Confusion.from_pairs(pairs)),
        "non_diagnostic": non_diagnostic,
        "overrides": _override_counts(decisions),
        "probability_distribution": distribution_figures([row[2] for row in rows], validation),
        "weekly": weekly_figures(rows, finals, validation),
    }


def rejected_inputs(date_from: date | None, date_to: date | None) -> dict[str, Any]:
    """How many analysed uploads the input gate refused (studies uploaded in the period)."""
    studies = _in_period(Study.objects.all(), "created_at", date_from, date_to)
    finished = studies.filter(status__in=[Study.Status.COMPLETED, Study.Status.REJECTED, Study.Status.FAILED])
    by_status = Counter(finished.values_list("status", flat=True))
    by_code = Counter(finished.filter(status=Study.Status.REJECTED).values_list("error_code", flat=True))
    total = sum(by_status.values())
    return {
        **proportion(by_status[Study.Status.REJECTED], total),
        "completed": by_status[Study.Status.COMPLETED],
        "rejected": by_status[Study.Status.REJECTED],
        "failed": by_status[Study.Status.FAILED],
        "by_code": dict(sorted(by_code.items())),
    }


def monitoring_report(
    *,
    model_version: str | None = None,
    date_from: date | None = None,
    date_to: date | None = None,
    models_dir: Path = MODELS_DIR,
) -> dict[str, Any]:
    """Per model version, over predictions made in the period: agreement, kappa, sensitivity and
    specificity (Wilson 95% CIs) against current final reads, overrides by reason, volume, probability
    drift against the bundle's validation histogram; plus the period's rejected-input rate. Admin only:
    the caller checks the role."""
    predictions = _in_period(Prediction.objects.all(), "created_at", date_from, date_to)
    if model_version:
        versions = [model_version]
    else:
        versions = sorted(set(predictions.values_list("model_version", flat=True)))
    return {
        "period": {"date_from": date_from, "date_to": date_to},
        "current_model_version": current_model_version(),
        "reference": "each study's current radiologist read (amendments supersede earlier versions); "
        "non-diagnostic reads are excluded from agreement, sensitivity and specificity and counted apart",
        "positive_label": Label.PNEUMONIA,
        "models": [model_figures(predictions, version, models_dir) for version in versions],
        "rejected_inputs": rejected_inputs(date_from, date_to),
    }
