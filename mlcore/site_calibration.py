"""Site calibration: refit a model's calibration (temperature and bias), operating point and indeterminate
band on a site's own labelled reads, and estimate the result out of sample.

The figures that justify a profile are cross-validated over patients: each read is scored by a profile fitted
on the other folds' patients, never on itself. "Before" is the profile in use, applied to the same reads (it
was not fitted on them). 95% CIs resample whole patients. Pure numpy/scipy: no Django, no model weights.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from mlcore.calibration import indeterminate_band, profile_probability, threshold_for_sensitivity
from mlcore.metrics import expected_calibration_error, probability_histogram

# Fewer reads of a class than this cannot support a threshold for a 0.95 sensitivity (one missed
# pneumonia in 20 is already 5%) nor five folds with both classes in each.
MIN_PER_CLASS = 20
FOLDS = 5
# Cross-validation repeated over this many patient shufflings and averaged: one split of ~100 patients
# moves the estimate by a few points (measured on the site sample: ECE 0.039 or 0.061 by the split alone).
REPEATS = 5
RESAMPLES = 1000
FIGURES = ("sensitivity", "specificity", "ece", "indeterminate_share")


class TooFewReads(ValueError):
    """Not enough reads of a class to fit a profile honestly."""


@dataclass(frozen=True)
class FitSettings:
    """How a site profile is fitted: the sensitivity target, the safety margin and the band's aims."""

    target_sensitivity: float = 0.95
    # The threshold keeps this many more positives above it than the target needs, so that the target
    # holds out of sample too (measured: without it the cross-validated sensitivity sits just under it).
    margin_positives: int = 1
    band_sensitivity: float = 0.98
    band_specificity: float = 0.95


@dataclass(frozen=True)
class SiteProfile:
    """p = sigmoid(logit / temperature + bias); PNEUMONIA at p >= threshold; indeterminate in [low, high]."""

    temperature: float
    bias: float
    threshold: float
    low: float
    high: float

    def probabilities(self, logits: np.ndarray) -> np.ndarray:
        """Calibrated P(PNEUMONIA) for raw logits."""
        return profile_probability(logits, self.temperature, self.bias)


def fit_temperature_bias(logits: np.ndarray, labels: np.ndarray) -> tuple[float, float]:
    """(T, bias) minimising the NLL of sigmoid(logit / T + bias) (Platt scaling with a positive slope)."""
    from scipy.optimize import minimize

    z, y = np.asarray(logits, dtype=np.float64), np.asarray(labels, dtype=np.float64)

    def nll(w: np.ndarray) -> float:
        s = np.exp(w[0]) * z + w[1]
        return float(np.mean(np.logaddexp(0.0, s) - y * s))

    result = minimize(nll, np.zeros(2), method="L-BFGS-B", bounds=[(-4.0, 4.0), (-20.0, 20.0)])
    return float(np.exp(-result.x[0])), float(result.x[1])


def fit_site_profile(logits: np.ndarray, labels: np.ndarray, settings: FitSettings) -> SiteProfile:
    """Fit calibration, then the threshold for the target sensitivity (plus margin), then the band."""
    y = np.asarray(labels)
    temperature, bias = fit_temperature_bias(logits, y)
    p = profile_probability(logits, temperature, bias)
    positives = int((y == 1).sum())
    # 1. Threshold: the target, lifted by `margin_positives` reads, never above all positives.
    aim = min(1.0, settings.target_sensitivity + settings.margin_positives / max(positives, 1))
    threshold = threshold_for_sensitivity(p, y, aim)
    # 2. Band around it where this site's errors concentrate.
    low, high = indeterminate_band(p, y, threshold, settings.band_sensitivity, settings.band_specificity)
    return SiteProfile(temperature, bias, threshold, low, high)


def figures(
    labels: np.ndarray, p: np.ndarray, threshold: np.ndarray, low: np.ndarray, high: np.ndarray
) -> dict[str, float]:
    """Sensitivity, specificity, ECE and indeterminate share (per-read thresholds allow out-of-fold rules)."""
    y = np.asarray(labels) == 1
    called = p >= threshold
    pos, neg = int(y.sum()), int((~y).sum())
    return {
        "sensitivity": float((called & y).sum() / pos) if pos else float("nan"),
        "specificity": float((~called & ~y).sum() / neg) if neg else float("nan"),
        "ece": expected_calibration_error(y.astype(int), p),
        "indeterminate_share": float(((p >= low) & (p <= high)).mean()),
    }


def patient_folds(groups: np.ndarray, labels: np.ndarray, folds: int, seed: int) -> np.ndarray:
    """A fold number per read; a patient's reads share a fold, and patients are dealt class by class so
    each fold holds both classes (a patient counts as positive when any read is)."""
    codes, inverse = np.unique(groups, return_inverse=True)
    positive = np.zeros(codes.size, dtype=bool)
    np.logical_or.at(positive, inverse, np.asarray(labels) == 1)
    rng = np.random.default_rng(seed)
    fold_of = np.empty(codes.size, dtype=int)
    for cls in (True, False):
        members = rng.permutation(np.flatnonzero(positive == cls))
        fold_of[members] = np.arange(members.size) % folds
    return fold_of[inverse]


def out_of_fold(
    logits: np.ndarray, labels: np.ndarray, groups: np.ndarray, settings: FitSettings, folds: int, seed: int
) -> dict[str, np.ndarray]:
    """Each read scored by the profile fitted without its patient's fold: p, threshold, low, high."""
    fold = patient_folds(groups, labels, folds, seed)
    out = {key: np.zeros(logits.size) for key in ("p", "threshold", "low", "high")}
    for k in range(folds):
        held = fold == k
        fitted = fit_site_profile(logits[~held], labels[~held], settings)
        out["p"][held] = fitted.probabilities(logits[held])
        out["threshold"][held], out["low"][held], out["high"][held] = (
            fitted.threshold,
            fitted.low,
            fitted.high,
        )
    return out


def _with_ci(values: dict[str, float], samples: dict[str, list[float]]) -> dict[str, dict[str, float]]:
    return {
        name: {
            "value": values[name],
            "ci_low": float(np.nanpercentile(samples[name], 2.5)),
            "ci_high": float(np.nanpercentile(samples[name], 97.5)),
        }
        for name in values
    }


def paired_bootstrap(
    groups: np.ndarray,
    statistics: dict[str, Any],
    resamples: int,
    seed: int,
    difference: tuple[str, str, str] | None = None,
) -> dict[str, dict[str, dict[str, float]]]:
    """Point values and 95% CIs of several statistics on the same patient resamples (so they are paired).

    `statistics` maps a name to f(index array) -> {figure: value}; `difference` = (name, a, b) adds a - b per
    resample (its CI is then the paired one, at no extra cost).
    """
    codes, inverse = np.unique(groups, return_inverse=True)
    members = [np.flatnonzero(inverse == g) for g in range(codes.size)]
    rng = np.random.default_rng(seed)

    def evaluate(index: np.ndarray) -> dict[str, dict[str, float]]:
        values = {name: f(index) for name, f in statistics.items()}
        if difference:
            name, a, b = difference
            values[name] = {k: values[a][k] - values[b][k] for k in values[a]}
        return values

    points = evaluate(np.arange(groups.size))
    samples: dict[str, dict[str, list[float]]] = {name: {} for name in points}
    for _ in range(resamples):
        index = np.concatenate([members[g] for g in rng.integers(0, codes.size, codes.size)])
        for name, figures_of in evaluate(index).items():
            for figure, value in figures_of.items():
                samples[name].setdefault(figure, []).append(value)
    return {name: _with_ci(points[name], samples[name]) for name in points}


def calibrate_site(
    logits: Sequence[float],
    labels: Sequence[int],
    groups: Sequence[str],
    current: SiteProfile,
    settings: FitSettings | None = None,
    *,
    folds: int = FOLDS,
    repeats: int = REPEATS,
    resamples: int = RESAMPLES,
    seed: int = 0,
) -> dict[str, Any]:
    """Fit a site profile on every read, with before/after figures estimated out of sample.

    Returns {"profile", "before", "after", "delta", "sample", "method"}; before is `current` on the reads,
    after is the cross-validated fitting procedure. TooFewReads names how many reads of each class it needs.
    """
    settings = settings or FitSettings()
    z, y, g = np.asarray(logits, dtype=np.float64), np.asarray(labels, dtype=int), np.asarray(groups)
    counts = {"normal": int((y == 0).sum()), "pneumonia": int((y == 1).sum())}
    if min(counts.values()) < MIN_PER_CLASS:
        raise TooFewReads(
            f"Calibration needs at least {MIN_PER_CLASS} NORMAL and {MIN_PER_CLASS} PNEUMONIA reads; "
            f"there are {counts['normal']} NORMAL and {counts['pneumonia']} PNEUMONIA."
        )
    profile = fit_site_profile(z, y, settings)
    runs = [out_of_fold(z, y, g, settings, folds, seed + r) for r in range(repeats)]
    p_before = current.probabilities(z)

    def before(i: np.ndarray) -> dict[str, float]:
        n = i.size
        return figures(
            y[i],
            p_before[i],
            np.full(n, current.threshold),
            np.full(n, current.low),
            np.full(n, current.high),
        )

    def after(i: np.ndarray) -> dict[str, float]:
        each = [figures(y[i], cv["p"][i], cv["threshold"][i], cv["low"][i], cv["high"][i]) for cv in runs]
        return {name: float(np.mean([e[name] for e in each])) for name in FIGURES}

    stats = paired_bootstrap(
        g, {"before": before, "after": after}, resamples, seed, ("delta", "after", "before")
    )
    return {
        "profile": asdict(profile),
        **stats,
        "sample": {**counts, "reads": int(y.size), "patients": int(np.unique(g).size)},
        # The fitted profile's probabilities on these reads: the reference its live inputs drift from.
        "reference_histogram": probability_histogram(profile.probabilities(z)),
        "method": {
            **asdict(settings),
            "folds": folds,
            "repeats": repeats,
            "resamples": resamples,
            "seed": seed,
            "estimate": f"{folds}-fold cross-validation over patients, repeated {repeats} times; "
            "95% CIs by patient bootstrap",
        },
    }
