"""Every shipped bundle under models/ loads through the same API; the current one explains at a useful
resolution, records what changed and stores its gate figures."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from mlcore.config import MODELS_DIR
from mlcore.decoding import decode_image
from mlcore.preprocessing import to_model_input
from tests.fixtures.bundles import shipped_bundle
from tests.fixtures.dicoms import fixture_xray_paths

BUNDLES = sorted(p for p in MODELS_DIR.glob("airspace-cnn-*") if (p / "serving.json").is_file())


def _current() -> Path:
    bundle = shipped_bundle()
    if bundle is None:
        pytest.skip("no exported bundle under models/CURRENT")
    return bundle


@pytest.mark.parametrize("bundle", BUNDLES, ids=[b.name for b in BUNDLES])
def test_every_shipped_bundle_loads_and_predicts(bundle: Path) -> None:
    from mlcore.bundle import load_bundle
    from mlcore.inference import load_predictor

    loaded = load_bundle(bundle)  # every sha256 checked, metadata and serving.json parsed
    assert loaded.version == bundle.name and loaded.serving is not None
    predictor = load_predictor(bundle)
    result = predictor.predict(fixture_xray_paths()[0].read_bytes())
    assert result.model_version == bundle.name
    assert 0.0 <= result.probability <= 1.0 and result.heatmap_png.startswith(b"\x89PNG")


def test_current_bundle_explains_on_a_map_of_at_least_14x14() -> None:
    from mlcore.inference import load_predictor

    predictor = load_predictor(_current())
    if predictor.version == "airspace-cnn-1.0.0":
        pytest.skip("1.0.0 predates the Grad-CAM export (3x3 CAM on last_conv)")
    x = to_model_input(decode_image(fixture_xray_paths()[0].read_bytes()).image)
    _, conv, cam = predictor.runner.run_with_cam(x[np.newaxis])
    explained = conv if cam is None else cam  # the map the heatmap is drawn from (Grad-CAM when exported)
    assert explained.shape[1] >= 14 and explained.shape[2] >= 14


def test_current_bundle_records_its_predecessor_and_gate_figures() -> None:
    bundle = _current()
    meta = json.loads((bundle / "metadata.json").read_text())
    if meta["version"] == "airspace-cnn-1.0.0":
        pytest.skip("1.0.0 is the first version")
    assert (MODELS_DIR / meta["previous_version"] / "metadata.json").is_file()
    assert meta["changes"] and all(isinstance(c, str) for c in meta["changes"])
    kinds = meta["gate"]["real_images"]["negatives_leave_one_kind_out"]
    assert kinds["n"] >= 100 and set(kinds["per_kind"]) >= {"xray_wrist", "ct_chest", "mri_brain"}
    positives = meta["gate"]["rates"]["positives"]
    assert {"site_sample_fullres", "validation_all_224", "originals_fullres"} <= set(positives)
    serving = json.loads((bundle / "serving.json").read_text())
    assert serving["gate"]["real_images"]["negatives_leave_one_kind_out"]["rate"] == kinds["rate"]
    assert "site_sample" in meta["extra_evaluations"]
    assert sum(f.stat().st_size for f in bundle.rglob("*") if f.is_file()) <= 20e6


@pytest.mark.parametrize("bundle", BUNDLES, ids=[b.name for b in BUNDLES])
def test_bundle_metadata_is_strict_json(bundle: Path) -> None:
    """No NaN/Infinity: the model-info API and browsers parse metadata.json as standard JSON."""

    def refuse(constant: str) -> None:
        raise AssertionError(f"{bundle.name}/metadata.json holds {constant}")

    for name in ("metadata.json", "serving.json"):
        json.loads((bundle / name).read_text(), parse_constant=refuse)
