"""Drift alarms: compare what the active profile does live with what justified it, and raise an audited
admin alert when live sensitivity or specificity against the reads falls below its expected interval, when
its output distribution drifts past the PSI threshold, or when the images' own statistics drift
(modelops.services.image_drift)."""

from __future__ import annotations

from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import QuerySet
from django.utils import timezone

from audit.services.events import SYSTEM, AuditContext, audit_record
from diagnosis.models import Prediction
from modelops.models import DriftAlert, OperatingProfile
from modelops.services.image_drift import image_drift
from modelops.services.monitoring import bundle_metadata
from modelops.services.monitoring_stats import (
    PSI_SIGNIFICANT,
    Confusion,
    fractions,
    histogram,
    psi,
    validation_histogram,
    wilson_interval,
)
from reading.models import ReadLabel, Review

# Below these a live figure says too little to raise an alarm on.
MIN_READS_PER_CLASS = 20
MIN_PREDICTIONS = 50


def expected_interval(profile: OperatingProfile, figure: str) -> tuple[float, float] | None:
    """The 95% interval the profile was justified with: its cross-validated estimate, or for the bundle's
    own profile the bundle's validation metrics."""
    metrics = profile.metrics or {}
    entry = (metrics.get("after") or {}).get(figure) or (metrics.get("metrics") or {}).get(figure)
    if isinstance(entry, dict) and entry.get("ci_low") is not None and entry.get("ci_high") is not None:
        return float(entry["ci_low"]), float(entry["ci_high"])
    return None


def reference_distribution(profile: OperatingProfile) -> list[float] | None:
    """The output distribution the profile expects: its fit's histogram, else the bundle's validation one."""
    fitted = (profile.metrics or {}).get("reference_histogram")
    if fitted:
        return validation_histogram({"validation_probability_histogram": fitted})
    return validation_histogram(bundle_metadata(profile.model_version) or {})


def live_figures(profile: OperatingProfile) -> dict[str, Any]:
    """What the profile did live: sensitivity and specificity (Wilson CIs) against the current reads of the
    studies it labelled, and the PSI of its probabilities against its reference distribution."""
    mine: QuerySet[Prediction] = Prediction.objects.filter(operating_profile=profile)
    latest = {
        study: (label, p)
        for study, label, p in mine.order_by("created_at").values_list("study_id", "label", "probability")
    }
    reads = dict(
        Review.objects.filter(
            is_current=True,
            study_id__in=list(latest),
            final_label__in=[ReadLabel.NORMAL, ReadLabel.PNEUMONIA],
        ).values_list("study_id", "final_label")
    )
    confusion = Confusion.from_pairs([(latest[s][0], truth) for s, truth in reads.items()])
    reference, live = reference_distribution(profile), fractions(histogram(p for _, p in latest.values()))
    return {
        "sensitivity": _proportion(confusion.tp, confusion.tp + confusion.fn),
        "specificity": _proportion(confusion.tn, confusion.tn + confusion.fp),
        "predictions": len(latest),
        "psi": psi(reference, live) if reference and live else None,
    }


def _proportion(successes: int, n: int) -> dict[str, Any]:
    interval = wilson_interval(successes, n)
    return {"value": successes / n if n else None, "n": n, "ci": list(interval) if interval else None}


def _breaches(profile: OperatingProfile, live: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Each alarm kind whose rule the live figures break, with what was observed."""
    found: dict[str, dict[str, Any]] = {}
    for figure in (DriftAlert.Kind.SENSITIVITY, DriftAlert.Kind.SPECIFICITY):
        expected, observed = expected_interval(profile, figure), live[figure]
        if expected and observed["n"] >= MIN_READS_PER_CLASS and observed["value"] < expected[0]:
            found[figure] = {**observed, "expected": list(expected)}
    if live["psi"] is not None and live["predictions"] >= MIN_PREDICTIONS and live["psi"] > PSI_SIGNIFICANT:
        found[DriftAlert.Kind.INPUT_DRIFT] = {
            "psi": live["psi"],
            "threshold": PSI_SIGNIFICANT,
            "n": live["predictions"],
        }
    images = image_drift(profile)
    if images is not None and images["drifted"]:
        found[DriftAlert.Kind.IMAGE_DRIFT] = images
    return found


def drift_check() -> list[DriftAlert]:
    """Check every active profile; raise (and audit) each new alarm. An alarm already open is not repeated."""
    raised = []
    for profile in OperatingProfile.objects.filter(active=True):
        for kind, observed in _breaches(profile, live_figures(profile)).items():
            try:
                with transaction.atomic():
                    alert = DriftAlert.objects.create(profile=profile, kind=kind, observed=observed)
                    audit_record(
                        actor=None,
                        action="drift.alert",
                        object_type="operating_profile",
                        object_id=profile.pk,
                        after={
                            "alert": alert.pk,
                            "kind": kind,
                            "model_version": profile.model_version,
                            **observed,
                        },
                    )
                raised.append(alert)
            except IntegrityError:  # already open
                continue
    return raised


@transaction.atomic
def drift_acknowledge(*, alert: DriftAlert, user: Any, context: AuditContext = SYSTEM) -> DriftAlert:
    """An admin has seen the alert; it closes, and the same breach may raise a new one later. Audited."""
    updated = DriftAlert.objects.filter(pk=alert.pk, acknowledged_at__isnull=True).update(
        acknowledged_at=timezone.now(), acknowledged_by=user
    )
    if updated:
        audit_record(
            actor=user,
            action="drift.acknowledge",
            object_type="operating_profile",
            object_id=alert.profile_id,
            after={"alert": alert.pk, "kind": alert.kind},
            context=context,
        )
    alert.refresh_from_db()
    return alert


def open_alerts() -> QuerySet[DriftAlert]:
    """Unacknowledged alerts, newest first (admin pages; the caller checks the role)."""
    return DriftAlert.objects.filter(acknowledged_at__isnull=True).select_related("profile")
