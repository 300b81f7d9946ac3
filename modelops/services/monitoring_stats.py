"""Monitoring statistics, pure and unit-tested by hand: Wilson intervals, Cohen's kappa, histograms, PSI, KS."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from diagnosis.models import Label

BINS = 10
Z95 = 1.959963984540054
# Conventional PSI reading: < 0.1 stable, 0.1-0.25 moderate shift, > 0.25 significant shift.
PSI_MODERATE, PSI_SIGNIFICANT = 0.1, 0.25


def wilson_interval(successes: int, n: int, z: float = Z95) -> tuple[float, float] | None:
    """The Wilson score interval for a proportion (None when n is 0)."""
    if n <= 0:
        return None
    p = successes / n
    denominator = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denominator
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denominator
    return max(0.0, centre - half), min(1.0, centre + half)


@dataclass(frozen=True)
class Confusion:
    """AI label against the final read; positive means PNEUMONIA."""

    tp: int = 0
    fp: int = 0
    fn: int = 0
    tn: int = 0

    @classmethod
    def from_pairs(cls, pairs: Iterable[tuple[str, str]]) -> Confusion:
        """Count (ai_label, final_label) pairs."""
        counts = Counter((ai == Label.PNEUMONIA, final == Label.PNEUMONIA) for ai, final in pairs)
        return cls(
            tp=counts[True, True], fp=counts[True, False], fn=counts[False, True], tn=counts[False, False]
        )

    @property
    def n(self) -> int:
        return self.tp + self.fp + self.fn + self.tn


def ratio(numerator: int, denominator: int) -> float | None:
    """numerator / denominator, or None when there is nothing to divide."""
    return numerator / denominator if denominator else None


def cohen_kappa(c: Confusion) -> float | None:
    """Cohen's kappa: agreement beyond chance (None when undefined: no pairs, or chance agreement is 1)."""
    if c.n == 0:
        return None
    observed = (c.tp + c.tn) / c.n
    # Chance agreement from the two raters' marginal label frequencies.
    expected = ((c.tp + c.fp) * (c.tp + c.fn) + (c.fn + c.tn) * (c.fp + c.tn)) / (c.n * c.n)
    return None if expected >= 1 else (observed - expected) / (1 - expected)


def proportion(successes: int, n: int) -> dict[str, Any]:
    """A proportion with its 95% Wilson interval, as JSON."""
    interval = wilson_interval(successes, n)
    return {"value": ratio(successes, n), "ci95": list(interval) if interval else None, "n": n}


def agreement_figures(c: Confusion) -> dict[str, Any]:
    """Agreement, kappa, sensitivity and specificity of the AI against the final reads."""
    return {
        "agreement": {**proportion(c.tp + c.tn, c.n), "kappa": cohen_kappa(c)},
        "sensitivity": proportion(c.tp, c.tp + c.fn),
        "specificity": proportion(c.tn, c.tn + c.fp),
        "confusion": {"tp": c.tp, "fp": c.fp, "fn": c.fn, "tn": c.tn},
    }


def histogram(probabilities: Iterable[float], bins: int = BINS) -> list[int]:
    """Counts in equal-width bins over [0, 1]; 1.0 falls in the last bin."""
    counts = [0] * bins
    for p in probabilities:
        counts[min(bins - 1, max(0, int(p * bins)))] += 1
    return counts


def fractions(counts: Sequence[float]) -> list[float] | None:
    """Counts scaled to sum to 1 (None when empty)."""
    total = float(sum(counts))
    return [c / total for c in counts] if total > 0 else None


def psi(expected: Sequence[float], actual: Sequence[float], floor: float = 1e-4) -> float:
    """Population stability index between two binned distributions (fractions); empty bins floored."""
    total = 0.0
    for e, a in zip(expected, actual, strict=True):
        e, a = max(e, floor), max(a, floor)
        total += (a - e) * math.log(a / e)
    return total


def ks_distance(expected: Sequence[float], actual: Sequence[float]) -> float:
    """Largest gap between the two cumulative distributions, at the bin edges (binned KS statistic)."""
    gap = cum_e = cum_a = 0.0
    for e, a in zip(expected, actual, strict=True):
        cum_e, cum_a = cum_e + e, cum_a + a
        gap = max(gap, abs(cum_e - cum_a))
    return gap


def drift_verdict(value: float | None) -> str:
    """Plain-words reading of a PSI."""
    if value is None:
        return "unknown"
    return "significant" if value > PSI_SIGNIFICANT else "moderate" if value > PSI_MODERATE else "stable"


def validation_histogram(metadata: dict[str, Any]) -> list[float] | None:
    """The bundle's validation probability distribution as 10 fractions, or None if absent/incompatible.

    Accepts a list of 10 counts (or fractions), or {"counts": [...], "edges": [11 edges on 0..1]}.
    """
    raw = metadata.get("validation_probability_histogram")
    if isinstance(raw, dict):
        edges = raw.get("edges") or raw.get("bins")
        expected_edges = [i / BINS for i in range(BINS + 1)]
        if edges is not None and [round(float(x), 6) for x in edges] != expected_edges:
            return None
        raw = raw.get("counts") or raw.get("fractions")
    if not isinstance(raw, list) or len(raw) != BINS:
        return None
    try:
        return fractions([float(x) for x in raw])
    except (TypeError, ValueError):
        return None


def distribution_figures(probabilities: list[float], validation: list[float] | None) -> dict[str, Any]:
    """The live probability histogram against the validation one, with PSI and KS drift statistics."""
    live = histogram(probabilities)
    live_fraction = fractions(live)
    comparable = validation is not None and live_fraction is not None
    value = psi(validation, live_fraction) if comparable else None
    return {
        "edges": [i / BINS for i in range(BINS + 1)],
        "live_counts": live,
        "live_fraction": live_fraction,
        "validation_fraction": validation,
        "psi": value,
        "ks": ks_distance(validation, live_fraction) if comparable else None,
        "drift": drift_verdict(value),
    }
