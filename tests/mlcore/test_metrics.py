"""mlcore.metrics on hand-computed examples."""

from __future__ import annotations

import numpy as np
import pytest

from mlcore import metrics


def test_roc_auc_matches_hand_count() -> None:
    # Pairs (pos, neg): (0.35 vs 0.1) win, (0.35 vs 0.4) lose, 0.8 wins both -> 3 / 4.
    assert metrics.roc_auc(np.array([0, 0, 1, 1]), np.array([0.1, 0.4, 0.35, 0.8])) == pytest.approx(0.75)
    assert metrics.roc_auc(np.array([0, 1]), np.array([0.5, 0.5])) == pytest.approx(0.5)
    assert np.isnan(metrics.roc_auc(np.array([1, 1]), np.array([0.2, 0.3])))


def test_pr_auc_is_average_precision() -> None:
    # Ranked: 0.8 (pos, P=1), 0.4 (neg), 0.35 (pos, P=2/3) -> (1 + 2/3) / 2.
    ap = metrics.pr_auc(np.array([0, 0, 1, 1]), np.array([0.1, 0.4, 0.35, 0.8]))
    assert ap == pytest.approx((1 + 2 / 3) / 2)


def test_ece_on_hand_example() -> None:
    y = np.array([0, 1, 1, 1])
    p = np.array([0.05, 0.05, 0.95, 0.95])
    # Bin 0: mean p 0.05, rate 0.5 -> 0.45 * 2/4; bin 9: mean p 0.95, rate 1 -> 0.05 * 2/4.
    assert metrics.expected_calibration_error(y, p) == pytest.approx(0.25)
    assert metrics.expected_calibration_error(np.array([1]), np.array([1.0])) == pytest.approx(0.0)


def test_point_metrics_from_confusion() -> None:
    y = np.array([0, 0, 0, 1, 1, 1, 1, 1])
    p = np.array([0.1, 0.2, 0.7, 0.3, 0.6, 0.8, 0.9, 0.95])
    assert metrics.confusion(y, (p >= 0.5).astype(int)) == {"tn": 2, "fp": 1, "fn": 1, "tp": 4}
    m = metrics.point_metrics(y, p, 0.5)
    assert m["accuracy"] == pytest.approx(6 / 8)
    assert m["sensitivity"] == pytest.approx(4 / 5)
    assert m["specificity"] == pytest.approx(2 / 3)
    assert m["ppv"] == pytest.approx(4 / 5)
    assert m["npv"] == pytest.approx(2 / 3)
    assert m["f1"] == pytest.approx(0.8)


def test_bootstrap_resamples_whole_patients() -> None:
    groups = ["a", "a", "b", "b", "c", "c"]
    ci = metrics.bootstrap_ci(
        lambda i: {"n": float(len(i)), "even": float(len(i) % 2 == 0)}, groups, 200, seed=1
    )
    assert ci["n"] == (6.0, 6.0)
    assert ci["even"] == (1.0, 1.0)


def test_metrics_with_ci_brackets_the_value_and_is_seeded() -> None:
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 300)
    p = np.clip(y * 0.6 + rng.uniform(0, 0.5, 300), 0, 1)
    groups = [str(i // 3) for i in range(300)]
    first = metrics.metrics_with_ci(y, p, 0.5, groups, n_resamples=200, seed=4)
    assert first == metrics.metrics_with_ci(y, p, 0.5, groups, n_resamples=200, seed=4)
    for m in first.values():
        assert m["ci_low"] <= m["value"] <= m["ci_high"]
    perfect = metrics.metrics_with_ci(y, y.astype(float), 0.5, n_resamples=100)
    assert perfect["accuracy"] == {"value": 1.0, "ci_low": 1.0, "ci_high": 1.0}


def test_probability_histogram_has_ten_equal_bins() -> None:
    hist = metrics.probability_histogram(np.array([0.0, 0.05, 0.5, 0.99, 1.0]))
    assert hist["bins"] == pytest.approx(np.linspace(0, 1, 11))
    assert hist["counts"] == [2, 0, 0, 0, 0, 1, 0, 0, 0, 2]
