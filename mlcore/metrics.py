"""Binary classification metrics, ECE and patient-level bootstrap confidence intervals (numpy only)."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

METRIC_NAMES = ("accuracy", "sensitivity", "specificity", "ppv", "npv", "f1", "roc_auc", "pr_auc", "ece")


def roc_auc(labels: np.ndarray, scores: np.ndarray) -> float:
    """ROC AUC by the Mann-Whitney rank statistic (ties count one half)."""
    from scipy.stats import rankdata

    y = np.asarray(labels) == 1
    n_pos, n_neg = int(y.sum()), int((~y).sum())
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    ranks = rankdata(scores)
    return float((ranks[y].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def pr_auc(labels: np.ndarray, scores: np.ndarray) -> float:
    """Average precision: the step-wise area under the precision-recall curve."""
    y = np.asarray(labels) == 1
    if not y.any():
        return float("nan")
    order = np.argsort(-np.asarray(scores), kind="mergesort")
    hits = y[order]
    precision = np.cumsum(hits) / np.arange(1, hits.size + 1)
    return float(precision[hits].sum() / hits.sum())


def roc_curve(labels: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(false positive rate, true positive rate, thresholds) at every distinct score."""
    y = np.asarray(labels) == 1
    thresholds = np.r_[np.inf, np.unique(scores)[::-1]]
    tpr = np.array([(scores[y] >= t).mean() for t in thresholds])
    fpr = np.array([(scores[~y] >= t).mean() for t in thresholds])
    return fpr, tpr, thresholds


def expected_calibration_error(labels: np.ndarray, probabilities: np.ndarray, bins: int = 10) -> float:
    """ECE over `bins` equal-width bins of P(PNEUMONIA): sum_b |b|/n * |mean(y) - mean(p)|."""
    p = np.asarray(probabilities, dtype=np.float64)
    y = np.asarray(labels, dtype=np.float64)
    index = np.minimum((p * bins).astype(int), bins - 1)
    total = 0.0
    for b in range(bins):
        mask = index == b
        if mask.any():
            total += mask.mean() * abs(y[mask].mean() - p[mask].mean())
    return float(total)


def confusion(labels: np.ndarray, predictions: np.ndarray) -> dict[str, int]:
    """Counts tn, fp, fn, tp (positive = PNEUMONIA)."""
    y, pred = np.asarray(labels) == 1, np.asarray(predictions) == 1
    return {
        "tn": int((~y & ~pred).sum()),
        "fp": int((~y & pred).sum()),
        "fn": int((y & ~pred).sum()),
        "tp": int((y & pred).sum()),
    }


def _ratio(num: float, den: float) -> float:
    """num / den, NaN when den is zero."""
    return float(num / den) if den else float("nan")


def point_metrics(labels: np.ndarray, probabilities: np.ndarray, threshold: float) -> dict[str, float]:
    """All METRIC_NAMES at one threshold on the calibrated probability."""
    c = confusion(labels, (np.asarray(probabilities) >= threshold).astype(int))
    tn, fp, fn, tp = c["tn"], c["fp"], c["fn"], c["tp"]
    ppv, sens = _ratio(tp, tp + fp), _ratio(tp, tp + fn)
    return {
        "accuracy": _ratio(tp + tn, tn + fp + fn + tp),
        "sensitivity": sens,
        "specificity": _ratio(tn, tn + fp),
        "ppv": ppv,
        "npv": _ratio(tn, tn + fn),
        "f1": _ratio(2 * ppv * sens, ppv + sens),
        "roc_auc": roc_auc(labels, probabilities),
        "pr_auc": pr_auc(labels, probabilities),
        "ece": expected_calibration_error(labels, probabilities),
    }


def bootstrap_ci(
    statistic: Callable[[np.ndarray], dict[str, float]],
    groups: Sequence[str],
    n_resamples: int = 1000,
    seed: int = 0,
    level: float = 0.95,
) -> dict[str, tuple[float, float]]:
    """Percentile CIs of each statistic, resampling whole groups (patients) with replacement."""
    codes, inverse = np.unique(np.asarray(groups), return_inverse=True)
    members = [np.flatnonzero(inverse == g) for g in range(codes.size)]
    rng = np.random.default_rng(seed)
    samples: dict[str, list[float]] = {}
    for _ in range(n_resamples):
        chosen = rng.integers(0, codes.size, codes.size)
        index = np.concatenate([members[g] for g in chosen])
        for name, value in statistic(index).items():
            samples.setdefault(name, []).append(value)
    tail = (1.0 - level) / 2.0 * 100.0
    return {
        name: (float(np.nanpercentile(v, tail)), float(np.nanpercentile(v, 100.0 - tail)))
        for name, v in samples.items()
    }


def metrics_with_ci(
    labels: np.ndarray,
    probabilities: np.ndarray,
    threshold: float,
    groups: Sequence[str] | None = None,
    n_resamples: int = 1000,
    seed: int = 0,
) -> dict[str, dict[str, float]]:
    """Each metric as {"value", "ci_low", "ci_high"}: 95% bootstrap CI by patient (by image if no groups)."""
    y, p = np.asarray(labels), np.asarray(probabilities)
    groups = groups if groups is not None else [str(i) for i in range(y.size)]
    values = point_metrics(y, p, threshold)
    cis = bootstrap_ci(lambda i: point_metrics(y[i], p[i], threshold), groups, n_resamples, seed)
    return {k: {"value": v, "ci_low": cis[k][0], "ci_high": cis[k][1]} for k, v in values.items()}


def probability_histogram(probabilities: np.ndarray, bins: int = 10) -> dict[str, list[float]]:
    """Equal-width histogram of probabilities on [0, 1]: {"bins": edges, "counts": counts}."""
    counts, edges = np.histogram(np.asarray(probabilities), bins=bins, range=(0.0, 1.0))
    return {"bins": [round(float(e), 6) for e in edges], "counts": [int(c) for c in counts]}
