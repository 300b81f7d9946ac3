"""LiteRT export: parity with Keras on real X-rays, and serving.json listing every artifact."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from mlcore.bundle import file_sha256
from mlcore.export import PARITY_TOLERANCE, keras_logits, load_keras, parity_inputs
from mlcore.litert import LiteRTRunner
from tests.fixtures.bundles import shipped_bundle


def _max_dp(bundle: Path) -> float:
    metadata = json.loads((bundle / "metadata.json").read_text())
    temperature = float(metadata.get("temperature", 1.0))
    inputs = np.stack(parity_inputs())
    reference = keras_logits(load_keras(bundle), inputs)
    runner = LiteRTRunner(bundle / "model.tflite")
    exported = np.concatenate([runner.run(x[np.newaxis])[0] for x in inputs])
    p_ref, p_exp = (1 / (1 + np.exp(-z / temperature)) for z in (reference, exported))
    return float(np.abs(p_ref - p_exp).max())


def test_tiny_export_matches_keras(tiny_bundle: Path) -> None:
    assert _max_dp(tiny_bundle) <= PARITY_TOLERANCE


def test_shipped_export_matches_keras_on_real_xrays() -> None:
    bundle = shipped_bundle()
    if bundle is None:
        pytest.skip("no exported bundle under models/CURRENT yet")
    assert len(parity_inputs()) >= 30
    assert _max_dp(bundle) <= PARITY_TOLERANCE


def test_serving_json_lists_artifacts_with_sha256(tiny_bundle: Path) -> None:
    serving = json.loads((tiny_bundle / "serving.json").read_text())
    metadata = json.loads((tiny_bundle / "metadata.json").read_text())
    assert serving["model_sha256"] == metadata["sha256"]
    assert set(serving["artifacts"]) == {"model.tflite", "head.npz", "gate.npz"}
    for name, digest in serving["artifacts"].items():
        assert file_sha256(tiny_bundle / name) == digest
    assert serving["parity"]["max_abs_dp"] <= PARITY_TOLERANCE
