"""Served model vs a shadow candidate on the same reads: AUC, sensitivity and specificity with paired patient
bootstrap CIs (and of the difference), and the exact McNemar test on the reads where their labels disagree.
Pure numpy/scipy: no Django."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from mlcore.metrics import roc_auc
from mlcore.site_calibration import paired_bootstrap


def mcnemar_exact(served_only_right: int, candidate_only_right: int) -> float:
    """Two-sided exact McNemar p-value: under no difference each discordant read is a fair coin."""
    from scipy.stats import binomtest

    n = served_only_right + candidate_only_right
    if n == 0:
        return 1.0
    return float(binomtest(served_only_right, n, 0.5).pvalue)


def _figures(y: np.ndarray, p: np.ndarray, called: np.ndarray) -> dict[str, float]:
    pos, neg = y == 1, y == 0
    both = pos.any() and neg.any()
    return {
        "auc": roc_auc(y, p) if both else float("nan"),
        "sensitivity": float(called[pos].mean()) if pos.any() else float("nan"),
        "specificity": float((~called[neg]).mean()) if neg.any() else float("nan"),
    }


def compare_paired(
    labels: Sequence[int],
    served_p: Sequence[float],
    served_called: Sequence[bool],
    candidate_p: Sequence[float],
    candidate_called: Sequence[bool],
    groups: Sequence[str],
    *,
    resamples: int = 1000,
    seed: int = 0,
) -> dict[str, Any]:
    """{"served", "candidate", "difference"} figures with 95% CIs, and {"mcnemar"} on the disagreements."""
    y = np.asarray(labels, dtype=int)
    a_p, b_p = np.asarray(served_p, dtype=np.float64), np.asarray(candidate_p, dtype=np.float64)
    a_c, b_c = np.asarray(served_called, dtype=bool), np.asarray(candidate_called, dtype=bool)

    def served(i: np.ndarray) -> dict[str, float]:
        return _figures(y[i], a_p[i], a_c[i])

    def candidate(i: np.ndarray) -> dict[str, float]:
        return _figures(y[i], b_p[i], b_c[i])

    def difference(i: np.ndarray) -> dict[str, float]:
        s, c = served(i), candidate(i)
        return {name: c[name] - s[name] for name in s}

    stats = paired_bootstrap(
        np.asarray(groups),
        {"served": served, "candidate": candidate, "difference": difference},
        resamples,
        seed,
    )
    a_right, b_right = a_c == (y == 1), b_c == (y == 1)
    b_only, a_only = int((b_right & ~a_right).sum()), int((a_right & ~b_right).sum())
    stats["mcnemar"] = {
        "served_only_right": a_only,
        "candidate_only_right": b_only,
        "p_value": mcnemar_exact(a_only, b_only),
    }
    stats["n"] = {"reads": int(y.size), "pneumonia": int(y.sum()), "normal": int((y == 0).sum())}
    return stats
