"""Temperature scaling, the operating point for a target sensitivity, and the indeterminate band.

Everything here is fitted on the validation split only; the test split is never seen.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np


def sigmoid(z: np.ndarray) -> np.ndarray:
    """Numerically stable logistic function."""
    z = np.asarray(z, dtype=np.float64)
    return np.where(z >= 0, 1.0 / (1.0 + np.exp(-np.abs(z))), np.exp(-np.abs(z)) / (1.0 + np.exp(-np.abs(z))))


def calibrated_probability(logits: np.ndarray, temperature: float) -> np.ndarray:
    """Calibrated P(PNEUMONIA) = sigmoid(logit / T)."""
    return sigmoid(np.asarray(logits, dtype=np.float64) / temperature)


def label_confidence(probability: float, label: str) -> float:
    """The calibrated probability of the label shown: p for PNEUMONIA, 1 - p for NORMAL.

    The one definition of "confidence" (inference, factories, benchmarks). It is not max(p, 1 - p): with
    an operating point above 0.5 a NORMAL result can carry p = 0.6, whose NORMAL confidence is 0.4. For an
    indeterminate result the label is still the one at the operating point and the confidence is that
    label's probability; pages head such a result "Indeterminate", never with this number.
    """
    if label == "PNEUMONIA":
        return float(probability)
    if label == "NORMAL":
        return 1.0 - float(probability)
    raise ValueError(f"no confidence for label {label!r}")


def nll(logits: np.ndarray, labels: np.ndarray, temperature: float) -> float:
    """Mean binary negative log-likelihood of the labels under sigmoid(logit / T)."""
    z = np.asarray(logits, dtype=np.float64) / temperature
    y = np.asarray(labels, dtype=np.float64)
    # log(1 + e^z) - y z, written stably.
    return float(np.mean(np.logaddexp(0.0, z) - y * z))


def fit_temperature(logits: np.ndarray, labels: np.ndarray) -> float:
    """The temperature T > 0 minimising validation NLL (bounded search over log T)."""
    from scipy.optimize import minimize_scalar

    result = minimize_scalar(
        lambda log_t: nll(logits, labels, float(np.exp(log_t))), bounds=(-4.0, 4.0), method="bounded"
    )
    return float(np.exp(result.x))


def threshold_for_sensitivity(probabilities: np.ndarray, labels: np.ndarray, target: float) -> float:
    """The highest threshold whose sensitivity (p >= threshold) is >= target, placed between two scores."""
    p = np.asarray(probabilities, dtype=np.float64)
    positives = np.sort(p[np.asarray(labels) == 1])[::-1]
    if positives.size == 0:
        raise ValueError("no positive examples to choose a threshold from")
    # 1. The k-th highest positive score is the loosest cut that still keeps ceil(target * n) positives.
    k = int(np.ceil(target * positives.size))
    cut = positives[k - 1]
    # 2. Put the threshold midway to the next lower score of any class, so it does not sit on a sample.
    below = p[p < cut]
    return float((cut + below.max()) / 2.0) if below.size else float(cut)


@dataclass(frozen=True)
class OperatingPoint:
    """The shipped decision rule on the calibrated probability."""

    temperature: float
    threshold: float
    indeterminate_low: float
    indeterminate_high: float
    target_sensitivity: float

    def as_dict(self) -> dict[str, float]:
        """Plain dict for metadata.json."""
        return asdict(self)


def indeterminate_band(
    probabilities: np.ndarray,
    labels: np.ndarray,
    threshold: float,
    band_sensitivity: float = 0.99,
    band_specificity: float = 0.99,
    min_margin: float = 0.02,
) -> tuple[float, float]:
    """[low, high]: below low the validation sensitivity reaches `band_sensitivity`; above high, specificity.

    Cases between low and high are where the validation errors concentrate; they are flagged indeterminate.
    """
    p = np.asarray(probabilities, dtype=np.float64)
    y = np.asarray(labels)
    low = threshold_for_sensitivity(p, y, band_sensitivity)
    negatives = np.sort(p[y == 0])
    # The cut above which only (1 - band_specificity) of the negatives remain.
    high = negatives[min(int(np.ceil(band_specificity * negatives.size)) - 1, negatives.size - 1)]
    low = min(low, threshold - min_margin)
    high = max(float(high), threshold + min_margin)
    return float(max(low, 0.0)), float(min(high, 1.0))


def fit_operating_point(
    logits: np.ndarray,
    labels: np.ndarray,
    target_sensitivity: float = 0.95,
    band_sensitivity: float = 0.99,
    band_specificity: float = 0.99,
) -> OperatingPoint:
    """Fit temperature, threshold and indeterminate band on validation logits."""
    temperature = fit_temperature(logits, labels)
    p = calibrated_probability(logits, temperature)
    threshold = threshold_for_sensitivity(p, labels, target_sensitivity)
    low, high = indeterminate_band(p, labels, threshold, band_sensitivity, band_specificity)
    return OperatingPoint(temperature, threshold, low, high, target_sensitivity)


def profile_probability(logits: np.ndarray, temperature: float, bias: float = 0.0) -> np.ndarray:
    """An operating profile's calibrated P(PNEUMONIA) = sigmoid(logit / T + bias); bias 0 is the bundle's."""
    return sigmoid(np.asarray(logits, dtype=np.float64) / temperature + bias)


def logit_from_probability(probability: np.ndarray, temperature: float, bias: float = 0.0) -> np.ndarray:
    """The raw logit behind a probability a profile produced (for predictions stored without their logit).

    Probabilities saturated at 0 or 1 are clipped to 1e-12 from the edge, so they map to a large but finite logit.
    """
    p = np.clip(np.asarray(probability, dtype=np.float64), 1e-12, 1.0 - 1e-12)
    return temperature * (np.log(p) - np.log1p(-p) - bias)
