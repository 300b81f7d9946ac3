"""Input drift on the images themselves: cheap per-image statistics taken at inference from the arrays the
prediction already has (no second decode), and the distance between two windows of them.

A site's X-rays change before its labels do (a new detector, a new exposure protocol, another post-processing
LUT): the statistics below move at once, while sensitivity against reads needs weeks of reads to move.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from mlcore.gate import STAT_NAMES

# What is recorded per image: the gate's statistics (already computed for its check) plus the size.
# mean = exposure, std = contrast, edges = sharpness, white/black fractions = clipping.
INPUT_STAT_NAMES = (*STAT_NAMES, "log_megapixels")
# Those the drift alarm watches (symmetry and entropy follow from these and from anatomy).
DRIFT_FEATURES = ("mean", "std", "edges", "white_fraction", "black_fraction", "log_aspect", "log_megapixels")
PSI_FLOOR = 1e-4


def input_statistics(width: int, height: int, stats: np.ndarray) -> dict[str, float]:
    """The recorded statistics of one image, from its size and the gate's `image_statistics` vector."""
    values = [float(v) for v in stats] + [math.log(max(width * height, 1) / 1e6)]
    return {name: round(value, 6) for name, value in zip(INPUT_STAT_NAMES, values, strict=True)}


@dataclass(frozen=True)
class WindowDistance:
    """How far a live window of one statistic is from its reference window."""

    psi: float  # effect size: < 0.1 stable, 0.1-0.25 moderate, > 0.25 significant
    ks: float  # largest gap between the two empirical CDFs
    p_value: float  # two-sample Kolmogorov-Smirnov test (exact for small windows)


def window_distance(reference: Sequence[float], live: Sequence[float], bins: int = 5) -> WindowDistance:
    """PSI and KS of a live window of one statistic against a reference window.

    1. Bin edges at the reference's quantiles (quintiles by default: with windows of ~50 images, ten bins
       give a PSI of ~0.4 between two samples of the same population), ties merged, open at both ends.
    2. PSI = sum (live - ref) * ln(live / ref) over the bins, empty bins floored at 1e-4.
    3. KS distance and p-value from scipy's two-sample test.
    """
    from scipy.stats import ks_2samp

    ref, now = np.asarray(reference, dtype=np.float64), np.asarray(live, dtype=np.float64)
    if ref.size == 0 or now.size == 0:
        raise ValueError("both windows need values")
    inner = np.unique(np.quantile(ref, np.linspace(0, 1, bins + 1)[1:-1]))
    ref_share = np.bincount(np.searchsorted(inner, ref, side="right"), minlength=inner.size + 1) / ref.size
    now_share = np.bincount(np.searchsorted(inner, now, side="right"), minlength=inner.size + 1) / now.size
    ref_share, now_share = np.maximum(ref_share, PSI_FLOOR), np.maximum(now_share, PSI_FLOOR)
    psi = float(((now_share - ref_share) * np.log(now_share / ref_share)).sum())
    test = ks_2samp(ref, now)
    return WindowDistance(psi=psi, ks=float(test.statistic), p_value=float(test.pvalue))
