"""Input drift on the images: the statistics the worker recorded for each analysed image (exposure, contrast,
sharpness, clipping, aspect, size), the profile's recent window against a reference window."""

from __future__ import annotations

from typing import Any

from diagnosis.models import Prediction
from mlcore.input_drift import DRIFT_FEATURES, window_distance
from modelops.models import OperatingProfile
from modelops.services.monitoring_stats import PSI_SIGNIFICANT

REFERENCE_WINDOW = 50  # images in the reference window
MIN_WINDOW = 50  # images needed in each window before anything is said
LIVE_WINDOW = 200  # the most recent images compared
# Two-sample KS over each watched statistic, Bonferroni-corrected: a false alarm on one check < 1%.
P_VALUE = 0.01 / len(DRIFT_FEATURES)


def _stats(queryset: Any, limit: int) -> list[dict[str, float]]:
    return [row for row in queryset.values_list("input_stats", flat=True)[:limit] if row]


def image_windows(profile: OperatingProfile) -> tuple[list[dict[str, float]], list[dict[str, float]]]:
    """(reference, live) image statistics of a profile.

    Reference: the images of its model version analysed just before it was activated (the population that
    justified it), else the first images it labelled itself. Live: its most recent images after those.
    """
    recorded = Prediction.objects.exclude(input_stats={})
    mine = recorded.filter(operating_profile=profile)
    before = recorded.filter(model_version=profile.model_version, created_at__lt=profile.activated_at)
    reference = _stats(before.order_by("-created_at"), REFERENCE_WINDOW) if profile.activated_at else []
    live_rows = mine.order_by("-created_at")
    if len(reference) < MIN_WINDOW:
        first = list(mine.order_by("created_at").values_list("pk", flat=True)[:REFERENCE_WINDOW])
        reference = _stats(mine.filter(pk__in=first), REFERENCE_WINDOW)
        live_rows = live_rows.exclude(pk__in=first)
    return reference, _stats(live_rows, LIVE_WINDOW)


def image_drift(profile: OperatingProfile) -> dict[str, Any] | None:
    """Per watched statistic, PSI and KS of the live window against the reference; None while either window
    holds fewer than MIN_WINDOW images. `drifted` names the statistics past both thresholds."""
    reference, live = image_windows(profile)
    if len(reference) < MIN_WINDOW or len(live) < MIN_WINDOW:
        return None
    features = {}
    for name in DRIFT_FEATURES:
        ref = [row[name] for row in reference if name in row]
        now = [row[name] for row in live if name in row]
        if ref and now:
            d = window_distance(ref, now)
            features[name] = {"psi": round(d.psi, 4), "ks": round(d.ks, 4), "p_value": d.p_value}
    drifted = [n for n, f in features.items() if f["psi"] > PSI_SIGNIFICANT and f["p_value"] < P_VALUE]
    return {
        "features": features,
        "drifted": drifted,
        "reference_n": len(reference),
        "n": len(live),
        "psi_threshold": PSI_SIGNIFICANT,
        "p_threshold": P_VALUE,
    }
