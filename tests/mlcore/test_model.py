"""mlcore.model: the serving contract, save/load round trip, and the shipped bundle's metadata."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from mlcore.config import CURRENT_POINTER, INPUT_SIZE, MODELS_DIR
from mlcore.preprocessing import PREPROCESSING_VERSION

TINY = {"internal_size": 64, "stem_filters": 8, "stage_filters": [8, 16, 16], "blocks_per_stage": [1, 1, 1]}


@pytest.fixture(scope="module")
def tiny_model() -> object:
    """A small model with the production topology."""
    import keras

    from mlcore.model import build_model

    keras.utils.set_random_seed(0)
    return build_model(TINY)


def test_model_honours_the_cam_contract(tiny_model) -> None:
    import keras

    assert tiny_model.input_shape == (None, INPUT_SIZE, INPUT_SIZE, 1)
    assert tiny_model.output_shape == (None, 1)
    last_conv, gap, logit = (tiny_model.get_layer(n) for n in ("last_conv", "gap", "logit"))
    assert len(last_conv.output.shape) == 4
    assert gap._inbound_nodes[0].parent_nodes[0].operation is last_conv
    assert isinstance(logit, keras.layers.Dense) and logit.units == 1
    assert logit.activation is keras.activations.linear
    assert not [layer for layer in tiny_model.layers if type(layer).__name__.startswith("Random")]


def test_model_rescales_raw_pixels_itself(tiny_model) -> None:
    assert tiny_model.get_layer("rescale").scale == pytest.approx(1 / 255)


def test_save_load_gives_identical_output(tiny_model, tmp_path: Path) -> None:
    import keras

    x = np.random.default_rng(0).uniform(0, 255, (3, INPUT_SIZE, INPUT_SIZE, 1)).astype(np.float32)
    tiny_model.save(tmp_path / "model.keras")
    loaded = keras.models.load_model(tmp_path / "model.keras")
    np.testing.assert_array_equal(tiny_model.predict(x, verbose=0), loaded.predict(x, verbose=0))
    # Deterministic at inference: no dropout or augmentation active.
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), loaded.predict(x, verbose=0))


def _shipped() -> Path:
    """The bundle named by models/CURRENT."""
    if not CURRENT_POINTER.exists():
        pytest.skip("models/CURRENT is missing: no shipped bundle in this checkout")
    return MODELS_DIR / CURRENT_POINTER.read_text().strip()


def test_shipped_bundle_metadata_is_complete() -> None:
    from mlcore.bundle import file_sha256

    bundle = _shipped()
    meta = json.loads((bundle / "metadata.json").read_text())
    assert meta["version"] == bundle.name
    assert meta["sha256"] == file_sha256(bundle / "model.keras")
    assert meta["input_size"] == INPUT_SIZE and meta["preprocessing"] == PREPROCESSING_VERSION
    low, high = meta["indeterminate_band"]
    assert 0 <= low < meta["threshold"] < high <= 1 and meta["temperature"] > 0
    for m in meta["metrics"].values():
        assert m["ci_low"] <= m["value"] <= m["ci_high"]
    hist = meta["validation_probability_histogram"]
    assert len(hist["bins"]) == 11 and sum(hist["counts"]) == meta["validation"]["n_images"]
    assert (bundle / "model.keras").stat().st_size <= 10 * 1024 * 1024
    assert (bundle / "MODEL_CARD.md").exists() and (bundle / "report" / "report.md").exists()


TINY_MULTISCALE = {**TINY, "internal_size": 96, "cam_stride": 8, "normalize": "standardize"}


def test_multiscale_head_keeps_a_fine_cam_map_and_the_cam_contract() -> None:
    import keras

    from mlcore.model import build_model

    keras.utils.set_random_seed(0)
    model = build_model(TINY_MULTISCALE)
    # stride 8 at a 96 px working size: a 12x12 map where the last stage alone gives 3x3.
    assert tuple(model.get_layer("last_conv").output.shape[1:3]) == (12, 12)
    assert model.get_layer("standardize") is not None
    # CAM stays exact: the logit is the spatial mean of last_conv . w plus the bias.
    x = np.random.default_rng(1).uniform(0, 255, (2, INPUT_SIZE, INPUT_SIZE, 1)).astype(np.float32)
    two = keras.Model(model.input, [model.get_layer("logit").output, model.get_layer("last_conv").output])
    logit, conv = (np.asarray(t) for t in two(x, training=False))
    kernel, bias = model.get_layer("logit").get_weights()
    np.testing.assert_allclose(
        logit[:, 0], (conv @ kernel[:, 0]).mean(axis=(1, 2)) + bias[0], rtol=1e-4, atol=1e-4
    )


def test_standardisation_removes_exposure_and_contrast_changes() -> None:
    import keras

    from mlcore.model import build_model

    keras.utils.set_random_seed(0)
    model = build_model(TINY_MULTISCALE)
    x = np.random.default_rng(2).uniform(40, 200, (1, INPUT_SIZE, INPUT_SIZE, 1)).astype(np.float32)
    brighter = np.clip((x - 100) * 1.2 + 120, 0, 255)
    out = model.predict(np.concatenate([x, brighter]), verbose=0)
    assert out[0, 0] == pytest.approx(out[1, 0], abs=1e-3)


def test_release_params_give_a_cam_map_of_at_least_14x14() -> None:
    from mlcore.model import build_model
    from mlcore.train import load_params

    params = load_params(Path(__file__).resolve().parents[2] / "mlcore" / "params" / "v2.json")
    model = build_model(params["arch"])
    height, width = model.get_layer("last_conv").output.shape[1:3]
    assert height >= 14 and width >= 14


def test_head_refit_starts_from_the_base_models_own_head() -> None:
    import keras

    from mlcore.head_refit import _start_from_base_head, stage_outputs
    from mlcore.model import CamHead, build_model, first_cam_stage

    keras.utils.set_random_seed(0)
    base = build_model(TINY)  # stages at 32, 16, 8 px of a 64 px working size
    kept = stage_outputs(base)[first_cam_stage(8) :]
    assert [int(t.shape[1]) for t in kept] == [8, 4]
    head = CamHead([(int(t.shape[1]), int(t.shape[2])) for t in kept], first_cam_stage(8), 16, 0.0)
    model = keras.Model(base.input, head(kept))
    _start_from_base_head(head, base)
    np.testing.assert_array_equal(
        head.projections[-1].get_weights()[0], base.get_layer("head_conv").get_weights()[0]
    )
    assert not np.any(head.projections[0].get_weights()[0])
    np.testing.assert_array_equal(
        model.get_layer("logit").get_weights()[0], base.get_layer("logit").get_weights()[0]
    )
    assert tuple(model.get_layer("last_conv").output.shape[1:3]) == (8, 8)
