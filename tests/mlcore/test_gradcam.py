"""mlcore.gradcam: the hand-written backward pass equals TensorFlow's autodiff, and the LiteRT export
carries the fine map without changing the score."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

# Four stages so that Grad-CAM on s1 goes back through two strided stages, one with two blocks
# (a stride-1 block without projection) and an odd-sized map (the asymmetric 'same' padding).
TINY = {
    "internal_size": 80,
    "stem_filters": 8,
    "stage_filters": [8, 12, 16, 16],
    "blocks_per_stage": [1, 1, 2, 1],
}


@pytest.fixture(scope="module")
def model() -> object:
    import keras

    from mlcore.model import build_model

    keras.utils.set_random_seed(3)
    built = build_model(TINY)
    # Non-trivial BatchNorm statistics, so the BN scales in the backward pass matter.
    for layer in built.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            gamma, beta, mean, variance = layer.get_weights()
            rng = np.random.default_rng(len(layer.name))
            layer.set_weights([gamma * rng.uniform(0.5, 1.5, gamma.shape), beta + 0.1, mean, variance * 2.0])
    return built


def _inputs() -> np.ndarray:
    rng = np.random.default_rng(0)
    return rng.uniform(0, 255, (3, 224, 224, 1)).astype(np.float32)


def test_gradcam_equals_autodiff_and_keeps_the_logit(model) -> None:
    import keras
    import tensorflow as tf

    from mlcore.gradcam import gradcam_model, stage_blocks

    assert stage_blocks(model) == [1, 1, 2, 1]
    x = _inputs()
    logit, last_conv, cam = (np.asarray(t) for t in gradcam_model(model)(x, training=False))
    np.testing.assert_allclose(logit, np.asarray(model(x, training=False)), atol=1e-5)
    anchor = model.get_layer("s1b0_out").output
    front, back = keras.Model(model.input, anchor), keras.Model(anchor, model.get_layer("logit").output)
    a = tf.constant(front(x, training=False))

    @tf.function  # in a graph only the input gradient is built (eager also runs the filter gradients)
    def input_gradient(a: tf.Tensor) -> tf.Tensor:
        with tf.GradientTape(watch_accessed_variables=False) as tape:
            tape.watch(a)
            out = back(a, training=False)
        return tape.gradient(out, a)

    g = input_gradient(a).numpy()
    expected = (g.mean(axis=(1, 2), keepdims=True) * a.numpy()).sum(axis=-1)
    assert cam.shape == expected.shape == (3, 10, 10)
    assert np.abs(expected).max() > 0
    np.testing.assert_allclose(cam, expected, atol=1e-6 * np.abs(expected).max() + 1e-9)


def test_litert_export_carries_the_map(model, tmp_path: Path) -> None:
    from mlcore.export import convert_to_litert
    from mlcore.gradcam import gradcam_map, gradcam_model
    from mlcore.litert import LiteRTRunner

    path = tmp_path / "model.tflite"
    path.write_bytes(convert_to_litert(model))
    runner = LiteRTRunner(path, threads=1)
    x = _inputs()
    logits, conv, cam = runner.run_with_cam(x)
    assert runner.has_gradcam and cam is not None
    reference = [np.asarray(t) for t in gradcam_model(model)(x, training=False)]
    np.testing.assert_allclose(logits, reference[0][:, 0], atol=1e-4)
    np.testing.assert_allclose(cam, reference[2], atol=1e-4 * np.abs(reference[2]).max())
    level = gradcam_map(cam[0], -1.0)
    assert level.shape == (10, 10) and level.min() == 0.0 and level.max() == pytest.approx(1.0)


def test_multiscale_head_is_exported_without_gradcam() -> None:
    from mlcore.gradcam import supports_gradcam
    from mlcore.model import build_model

    assert not supports_gradcam(build_model({**TINY, "cam_stride": 8}))
