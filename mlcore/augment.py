"""Radiograph augmentation and the tf.data pipelines (TensorFlow imported lazily, training only).

All randomness is stateless and derived from a seeded `Dataset.random` stream, so a run is reproducible.
No horizontal flip: the heart sits on the patient's left in nearly every paediatric AP film, and a flip
would teach the network anatomy that never occurs (dextrocardia is rare and not what we classify).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

DEFAULT_AUGMENT: dict[str, float] = {
    "rotation_deg": 10.0,
    "shift": 0.08,
    "zoom": 0.10,
    "aspect": 0.08,
    "brightness": 0.08,
    "contrast": 0.20,
    "gamma": 0.25,
    "blur_prob": 0.2,
    "noise_std": 4.0,
    "mixup_alpha": 0.0,
}


def _uniform(seed: Any, shape: Any, low: float, high: float) -> Any:
    """Stateless uniform samples in [low, high)."""
    import tensorflow as tf

    return tf.random.stateless_uniform(shape, seed=seed, minval=low, maxval=high)


def _affine(images: Any, seed: Any, cfg: dict[str, float]) -> Any:
    """Per-image rotation, anisotropic zoom and shift about the centre (edges filled by nearest pixel)."""
    import tensorflow as tf

    n = tf.shape(images)[0]
    size = tf.cast(tf.shape(images)[1], tf.float32)
    theta = _uniform(seed + 1, [n], -1.0, 1.0) * cfg["rotation_deg"] * math.pi / 180.0
    zoom = 1.0 + _uniform(seed + 2, [n], -cfg["zoom"], cfg["zoom"])
    aspect = 1.0 + _uniform(seed + 3, [n], -cfg["aspect"], cfg["aspect"])
    sx, sy = zoom * aspect, zoom / aspect
    tx = _uniform(seed + 4, [n], -cfg["shift"], cfg["shift"]) * size
    ty = _uniform(seed + 5, [n], -cfg["shift"], cfg["shift"]) * size
    c = (size - 1.0) / 2.0
    # Output -> input mapping: p_in = A (p_out - c) + c - t, with A = rotation / scale.
    a0, a1 = tf.cos(theta) / sx, -tf.sin(theta) / sx
    b0, b1 = tf.sin(theta) / sy, tf.cos(theta) / sy
    a2 = c - a0 * c - a1 * c - tx
    b2 = c - b0 * c - b1 * c - ty
    zeros = tf.zeros_like(a0)
    transforms = tf.stack([a0, a1, a2, b0, b1, b2, zeros, zeros], axis=1)
    return tf.raw_ops.ImageProjectiveTransformV3(
        images=images,
        transforms=transforms,
        output_shape=tf.shape(images)[1:3],
        fill_value=0.0,
        interpolation="BILINEAR",
        fill_mode="NEAREST",
    )


def _photometric(images: Any, seed: Any, cfg: dict[str, float]) -> Any:
    """Exposure changes: gamma, contrast about the image mean, brightness; values stay in 0..255."""
    import tensorflow as tf

    n = tf.shape(images)[0]
    x = images / 255.0
    gamma = tf.exp(_uniform(seed + 6, [n, 1, 1, 1], -cfg["gamma"], cfg["gamma"]))
    x = tf.pow(tf.clip_by_value(x, 1e-6, 1.0), gamma)
    mean = tf.reduce_mean(x, axis=[1, 2, 3], keepdims=True)
    contrast = 1.0 + _uniform(seed + 7, [n, 1, 1, 1], -cfg["contrast"], cfg["contrast"])
    x = (x - mean) * contrast + mean
    x = x + _uniform(seed + 8, [n, 1, 1, 1], -cfg["brightness"], cfg["brightness"])
    return tf.clip_by_value(x, 0.0, 1.0) * 255.0


def _degrade(images: Any, seed: Any, cfg: dict[str, float]) -> Any:
    """Scanner/compression-like degradation: a mild blur on some images, faint noise on all."""
    import tensorflow as tf

    n = tf.shape(images)[0]
    kernel = tf.constant(np.outer([1, 2, 1], [1, 2, 1]) / 16.0, tf.float32)[:, :, None, None]
    blurred = tf.nn.depthwise_conv2d(images, kernel, [1, 1, 1, 1], "SAME")
    use_blur = tf.cast(_uniform(seed + 9, [n, 1, 1, 1], 0.0, 1.0) < cfg["blur_prob"], tf.float32)
    x = use_blur * blurred + (1.0 - use_blur) * images
    sigma = _uniform(seed + 10, [n, 1, 1, 1], 0.0, cfg["noise_std"])
    noise = tf.random.stateless_normal(tf.shape(x), seed=seed + 11) * sigma
    return tf.clip_by_value(x + noise, 0.0, 255.0)


def _mixup(x: Any, y: Any, w: Any, seed: Any, alpha: float) -> tuple[Any, Any, Any]:
    """Mix each example with a shuffled partner (lambda ~ Beta(alpha, alpha), kept >= 0.5)."""
    import tensorflow as tf

    n = tf.shape(x)[0]
    g1 = tf.random.stateless_gamma([n], seed=seed + 12, alpha=alpha)
    g2 = tf.random.stateless_gamma([n], seed=seed + 13, alpha=alpha)
    lam = tf.maximum(g1 / (g1 + g2), g2 / (g1 + g2))
    order = tf.argsort(tf.random.stateless_uniform([n], seed=seed + 14))
    mix = lambda a, b: lam[:, None] * a + (1.0 - lam[:, None]) * b  # noqa: E731
    xm = lam[:, None, None, None] * x + (1.0 - lam[:, None, None, None]) * tf.gather(x, order)
    return xm, mix(y, tf.gather(y, order)), mix(w[:, None], tf.gather(w, order)[:, None])[:, 0]


def augment_batch(images: Any, seed: Any, cfg: dict[str, float] | None = None) -> Any:
    """The full training-time augmentation of a float32 (N, H, W, 1) batch in 0..255."""
    cfg = {**DEFAULT_AUGMENT, **(cfg or {})}
    x = _affine(images, seed, cfg)
    x = _photometric(x, seed, cfg)
    return _degrade(x, seed, cfg)


def make_dataset(
    images: np.ndarray,
    labels: np.ndarray,
    *,
    batch_size: int,
    training: bool,
    seed: int,
    class_weight: dict[int, float] | None = None,
    augment: dict[str, float] | None = None,
) -> Any:
    """A cached, prefetched tf.data pipeline of (image, label, sample weight) batches."""
    import tensorflow as tf

    cfg = {**DEFAULT_AUGMENT, **(augment or {})}
    cw = class_weight or {0: 1.0, 1: 1.0}
    y = labels.astype(np.float32)[:, None]
    weights = np.where(labels == 1, cw[1], cw[0]).astype(np.float32)
    ds = tf.data.Dataset.from_tensor_slices((images, y, weights)).cache()
    if training:
        ds = ds.shuffle(len(images), seed=seed, reshuffle_each_iteration=True)
    ds = ds.batch(batch_size)
    if not training:
        return ds.map(lambda x, t, w: (tf.cast(x, tf.float32), t, w)).prefetch(tf.data.AUTOTUNE)
    seeds = tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=True).batch(2)

    def _train_map(batch: Any, pair: Any) -> Any:
        x, t, w = batch
        pair = tf.cast(pair % (2**31 - 1), tf.int32)
        x = augment_batch(tf.cast(x, tf.float32), pair, cfg)
        if cfg["mixup_alpha"] > 0:
            x, t, w = _mixup(x, t, w, pair, cfg["mixup_alpha"])
        return x, t, w

    ds = tf.data.Dataset.zip((ds, seeds)).map(_train_map, num_parallel_calls=tf.data.AUTOTUNE)
    return ds.prefetch(tf.data.AUTOTUNE)
