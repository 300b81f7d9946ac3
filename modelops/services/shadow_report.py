"""The shadow comparison: served model vs candidate on the studies read since the shadow began (admin only;
the caller checks the role)."""

from __future__ import annotations

import math
from typing import Any

from django.urls import reverse

from mlcore.shadow_compare import compare_paired
from modelops.models import ShadowPrediction, ShadowRun
from reading.models import ReadLabel, Review

# Fewer reads than this per class give intervals too wide to say anything; the figures wait for them.
MIN_READS_PER_CLASS = 5


def _latency(values: list[float]) -> dict[str, float | None]:
    ordered = sorted(v for v in values if v is not None)
    if not ordered:
        return {"mean_ms": None, "p50_ms": None, "p95_ms": None}

    def at(q: float) -> float:
        return ordered[min(len(ordered) - 1, math.ceil(q * len(ordered)) - 1)]

    return {"mean_ms": sum(ordered) / len(ordered), "p50_ms": at(0.5), "p95_ms": at(0.95)}


def _clean(value: Any) -> Any:
    """NaN (a figure undefined on this sample) as None, so the JSON stays strict."""
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


def _paired_rows(shadow: ShadowRun) -> list[dict[str, Any]]:
    """One row per study read since the shadow began that both models scored (latest shadow result)."""
    scored = ShadowPrediction.objects.filter(shadow=shadow).select_related("prediction", "study")
    reads = dict(
        Review.objects.filter(
            is_current=True,
            signed_at__gte=shadow.started_at,
            study_id__in=scored.values("study_id"),
            final_label__in=[ReadLabel.NORMAL, ReadLabel.PNEUMONIA],
        ).values_list("study_id", "final_label")
    )
    rows: dict[Any, dict[str, Any]] = {}
    for item in scored.order_by("created_at"):
        if item.study_id in reads and item.probability is not None:
            served = item.prediction
            rows[item.study_id] = {
                "study": str(item.study_id),
                "url": reverse("study-detail", args=[item.study_id]),
                "patient": str(item.study.patient_id),
                "final_read": reads[item.study_id],
                "served": {"label": served.label, "probability": served.probability, "ms": served.total_ms},
                "candidate": {"label": item.label, "probability": item.probability, "ms": item.total_ms},
            }
    return list(rows.values())


def shadow_comparison(shadow: ShadowRun) -> dict[str, Any]:
    """Served vs candidate: AUC, sensitivity, specificity with paired CIs, McNemar, disagreements, latency."""
    rows = _paired_rows(shadow)
    all_scored = ShadowPrediction.objects.filter(shadow=shadow)
    labels = [int(r["final_read"] == ReadLabel.PNEUMONIA) for r in rows]
    per_class = (labels.count(0), labels.count(1))
    report: dict[str, Any] = {
        "shadow": shadow.pk,
        "status": shadow.status,
        "served_version": shadow.served_version,
        "candidate": shadow.candidate_name,
        "started_at": shadow.started_at,
        "scored_studies": all_scored.count(),
        "read_studies": len(rows),
        "latency": {
            "served": _latency(list(all_scored.values_list("prediction__total_ms", flat=True))),
            "candidate": _latency(list(all_scored.values_list("total_ms", flat=True))),
        },
        "disagreements": [r for r in rows if r["served"]["label"] != r["candidate"]["label"]],
        "figures": None,
        "waiting_for": "",
    }
    if min(per_class) < MIN_READS_PER_CLASS:
        report["waiting_for"] = (
            f"At least {MIN_READS_PER_CLASS} NORMAL and {MIN_READS_PER_CLASS} PNEUMONIA reads since the shadow "
            f"began; there are {per_class[0]} and {per_class[1]}."
        )
        return report
    figures = compare_paired(
        labels,
        [r["served"]["probability"] for r in rows],
        [r["served"]["label"] == "PNEUMONIA" for r in rows],
        [r["candidate"]["probability"] for r in rows],
        [r["candidate"]["label"] == "PNEUMONIA" for r in rows],
        [r["patient"] for r in rows],
    )
    report["figures"] = _clean(figures)
    return report
