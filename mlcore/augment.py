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
    # Aspect balancing (0 = off): the width/height of the original film per class, and the range of
    # virtual originals every image is re-squashed as if it came from (see _aspect_balance).
    "aspect_normal": 0.0,
    "aspect_pneumonia": 0.0,
    "aspect_low": 1.05,
    "aspect_high": 1.75,
    # 1: the stretch magnifies one axis (a crop) instead of shrinking the other (which fills edges).
    "aspect_crop_only": 0.0,
    # Framing balancing (1 = off): normal films are zoomed in by up to this factor (see _framing_balance).
    "zoom_normal_max": 1.0,
}


def _uniform(seed: Any, shape: Any, low: float, high: float) -> Any:
    """Stateless uniform samples in [low, high)."""
    import tensorflow as tf

    return tf.random.stateless_uniform(shape, seed=seed, minval=low, maxval=high)


def _aspect_balance(labels: Any, seed: Any, cfg: dict[str, float]) -> Any:
    """Per-image horizontal stretch that makes the squashed anatomy's shape say nothing about the label.

    Every image is squashed to a square, so an original of width/height `a` shows its anatomy compressed
    `a` times across. In the train split pneumonia originals are wider (median a 1.43) than normal ones
    (1.24), so the squashed shape could separate the classes, and a later collection's normals are wider
    (the site sample: 1.39). (bench/shortcut_probe.py found 1.0.0 reading framing, not aspect; this is the
    cheap guard against the other cue.) Each image is re-squashed as if its original had a virtual aspect
    drawn log-uniformly from one range for both classes: stretch across by a_class / a_virtual.
    Returns the per-image factor for the anatomy's width/height (1 where balancing is off).
    """
    import tensorflow as tf

    n = tf.shape(labels)[0]
    if cfg["aspect_normal"] <= 0 or cfg["aspect_pneumonia"] <= 0:
        return tf.ones([n])
    y = tf.reshape(tf.cast(labels, tf.float32), [n])
    own = (1.0 - y) * cfg["aspect_normal"] + y * cfg["aspect_pneumonia"]
    log_virtual = _uniform(seed + 15, [n], math.log(cfg["aspect_low"]), math.log(cfg["aspect_high"]))
    return own / tf.exp(log_virtual)


def _framing_balance(labels: Any, seed: Any, cfg: dict[str, float]) -> Any:
    """Per-image zoom that makes how much of the frame the chest fills say nothing about the label.

    In the train split the pneumonia originals are smaller (median 1084 px wide against 1633) and framed more
    tightly, and the network learnt it: a 15% centre crop of a site-sample normal film raised 1.0.0's logit
    by 1.6 on average, while downscaling the same film (resolution alone) changed nothing. Normal films are
    zoomed in (a crop: no filled edges) by a log-uniform factor up to `zoom_normal_max`, so tight framing
    occurs in both classes. Returns the per-image zoom factor (1 for pneumonia and where balancing is off).
    """
    import tensorflow as tf

    n = tf.shape(labels)[0]
    if cfg["zoom_normal_max"] <= 1.0:
        return tf.ones([n])
    normal = 1.0 - tf.reshape(tf.cast(labels, tf.float32), [n])
    log_zoom = _uniform(seed + 16, [n], 0.0, math.log(cfg["zoom_normal_max"]))
    return tf.exp(normal * log_zoom)


def _affine(
    images: Any, seed: Any, cfg: dict[str, float], stretch: Any = None, extra_zoom: Any = None
) -> Any:
    """Per-image rotation, anisotropic zoom and shift about the centre (edges filled by nearest pixel).

    `stretch` multiplies each image's width/height ratio (aspect balancing); it is split between the axes
    so the image area stays the same. `extra_zoom` multiplies the zoom (framing balancing).
    """
    import tensorflow as tf

    n = tf.shape(images)[0]
    size = tf.cast(tf.shape(images)[1], tf.float32)
    theta = _uniform(seed + 1, [n], -1.0, 1.0) * cfg["rotation_deg"] * math.pi / 180.0
    zoom = 1.0 + _uniform(seed + 2, [n], -cfg["zoom"], cfg["zoom"])
    aspect = 1.0 + _uniform(seed + 3, [n], -cfg["aspect"], cfg["aspect"])
    if stretch is not None:
        aspect = aspect * tf.sqrt(stretch)
        if cfg["aspect_crop_only"]:
            # Shrinking an axis fills the edges by their nearest pixels; as the stretch depends on the
            # label, so would those filled streaks, which a network could learn. Magnify the other axis
            # instead: the stretch becomes a crop.
            zoom = zoom * tf.maximum(tf.sqrt(stretch), 1.0 / tf.sqrt(stretch))
    if extra_zoom is not None:
        zoom = zoom * extra_zoom
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


def augment_batch(images: Any, seed: Any, cfg: dict[str, float] | None = None, labels: Any = None) -> Any:
    """The full training-time augmentation of a float32 (N, H, W, 1) batch in 0..255.

    `labels` (N, 1) are needed only for aspect and framing balancing."""
    cfg = {**DEFAULT_AUGMENT, **(cfg or {})}
    stretch = _aspect_balance(labels, seed, cfg) if labels is not None else None
    extra_zoom = _framing_balance(labels, seed, cfg) if labels is not None else None
    x = _affine(images, seed, cfg, stretch, extra_zoom)
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
        x = augment_batch(tf.cast(x, tf.float32), pair, cfg, labels=t)
        if cfg["mixup_alpha"] > 0:
            x, t, w = _mixup(x, t, w, pair, cfg["mixup_alpha"])
        return x, t, w

    ds = tf.data.Dataset.zip((ds, seeds)).map(_train_map, num_parallel_calls=tf.data.AUTOTUNE)
    return ds.prefetch(tf.data.AUTOTUNE)
