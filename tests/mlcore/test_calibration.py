"""mlcore.calibration: temperature scaling, the sensitivity-targeted threshold and the indeterminate band."""

from __future__ import annotations

import math

import numpy as np
import pytest

from mlcore import calibration


def test_sigmoid_and_nll_hand_values() -> None:
    assert calibration.sigmoid(np.array([0.0]))[0] == pytest.approx(0.5)
    assert calibration.sigmoid(np.array([-1000.0, 1000.0])) == pytest.approx([0.0, 1.0])
    # One positive at logit 0: -log(0.5).
    assert calibration.nll(np.array([0.0]), np.array([1]), 1.0) == pytest.approx(math.log(2))
    assert calibration.calibrated_probability(np.array([2.0]), 2.0)[0] == pytest.approx(1 / (1 + math.e**-1))


def test_fit_temperature_recovers_overconfidence() -> None:
    rng = np.random.default_rng(0)
    true_logits = rng.normal(0, 2, 20000)
    labels = (rng.uniform(size=true_logits.size) < calibration.sigmoid(true_logits)).astype(int)
    # A model three times too confident: its logits are 3x the true ones, so T should be ~3.
    assert calibration.fit_temperature(3.0 * true_logits, labels) == pytest.approx(3.0, rel=0.05)


def test_threshold_for_sensitivity_hand_example() -> None:
    p = np.array([0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9])
    y = np.array([0, 1, 0, 1, 0, 1, 1, 0, 1])
    # Positives sorted: 0.9, 0.7, 0.6, 0.4, 0.2. Keeping 4 of 5 (80%) needs the cut at 0.4,
    # placed midway to the next lower score 0.3.
    assert calibration.threshold_for_sensitivity(p, y, 0.8) == pytest.approx(0.35)
    assert calibration.threshold_for_sensitivity(p, y, 1.0) == pytest.approx(0.15)
    t = calibration.threshold_for_sensitivity(p, y, 0.8)
    assert ((p >= t) & (y == 1)).sum() / (y == 1).sum() >= 0.8


def test_operating_point_orders_band_around_threshold() -> None:
    rng = np.random.default_rng(1)
    y = rng.integers(0, 2, 2000)
    logits = rng.normal(np.where(y == 1, 2.0, -2.0), 1.5) * 2.0
    op = calibration.fit_operating_point(logits, y, target_sensitivity=0.95)
    assert op.temperature > 1.0
    assert 0.0 <= op.indeterminate_low < op.threshold < op.indeterminate_high <= 1.0
    p = calibration.calibrated_probability(logits, op.temperature)
    assert ((p >= op.threshold) & (y == 1)).sum() / (y == 1).sum() >= 0.95
    assert set(op.as_dict()) >= {"temperature", "threshold", "indeterminate_low", "indeterminate_high"}
