"""The Airspace CNN: a small residual separable-conv network on raw grayscale pixels, ending in one logit.

Contract relied on by serving (CAM heatmaps): `last_conv` (4D feature map) -> `gap` -> [dropout] -> `logit`
(Dense(1), no activation). Pixel scaling travels inside the model; augmentation never does.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from mlcore.config import INPUT_SIZE

LAST_CONV = "last_conv"
GAP = "gap"
# Faster-tracking moving statistics: with 99% momentum the inference-mode BN lagged badly in short runs.
BN_MOMENTUM = 0.9
LOGIT = "logit"

DEFAULT_ARCH: dict[str, Any] = {
    "internal_size": 224,
    "stem_filters": 24,
    "stage_filters": [32, 64, 128, 192, 256],
    "blocks_per_stage": [1, 1, 2, 2, 1],
    "dropout": 0.2,
}


def _conv_bn(x: Any, filters: int, kernel: int, strides: int, name: str, separable: bool = True) -> Any:
    """Conv (separable or plain) -> BatchNorm -> ReLU."""
    from keras import layers

    conv = layers.SeparableConv2D if separable else layers.Conv2D
    x = conv(filters, kernel, strides=strides, padding="same", use_bias=False, name=f"{name}_conv")(x)
    x = layers.BatchNormalization(momentum=BN_MOMENTUM, name=f"{name}_bn")(x)
    return layers.ReLU(name=f"{name}_relu")(x)


def _residual_block(x: Any, filters: int, strides: int, name: str) -> Any:
    """Two separable 3x3 convs with a (projected when the shape changes) shortcut."""
    from keras import layers

    shortcut = x
    y = _conv_bn(x, filters, 3, strides, f"{name}_a")
    y = layers.SeparableConv2D(filters, 3, padding="same", use_bias=False, name=f"{name}_b_conv")(y)
    y = layers.BatchNormalization(momentum=BN_MOMENTUM, name=f"{name}_b_bn")(y)
    if strides != 1 or x.shape[-1] != filters:
        shortcut = layers.Conv2D(filters, 1, strides=strides, use_bias=False, name=f"{name}_proj")(x)
        shortcut = layers.BatchNormalization(momentum=BN_MOMENTUM, name=f"{name}_proj_bn")(shortcut)
    y = layers.Add(name=f"{name}_add")([y, shortcut])
    return layers.ReLU(name=f"{name}_out")(y)


def _backbone(x: Any, stage_filters: Sequence[int], blocks_per_stage: Sequence[int]) -> Any:
    """Stages of residual blocks, each halving the resolution in its first block."""
    for stage, (filters, blocks) in enumerate(zip(stage_filters, blocks_per_stage, strict=True)):
        for block in range(blocks):
            x = _residual_block(x, filters, 2 if block == 0 else 1, f"s{stage}b{block}")
    return x


def build_model(arch: dict[str, Any] | None = None, input_size: int = INPUT_SIZE) -> Any:
    """A Functional Keras model: (input_size, input_size, 1) raw 0..255 pixels -> one raw logit."""
    import keras
    from keras import layers

    cfg = {**DEFAULT_ARCH, **(arch or {})}
    inputs = keras.Input((input_size, input_size, 1), dtype="float32", name="image")
    x = layers.Rescaling(1.0 / 255.0, name="rescale")(inputs)
    if cfg["internal_size"] != input_size:
        # A cheaper internal resolution, still fed the exact 224 serving input.
        x = layers.Resizing(
            cfg["internal_size"], cfg["internal_size"], interpolation="bilinear", name="resize"
        )(x)
    x = _conv_bn(x, cfg["stem_filters"], 3, 2, "stem", separable=False)
    x = _backbone(x, cfg["stage_filters"], cfg["blocks_per_stage"])
    # 1x1 conv head: the CAM feature map; named so serving can read it.
    x = layers.Conv2D(cfg["stage_filters"][-1], 1, use_bias=False, name="head_conv")(x)
    x = layers.BatchNormalization(momentum=BN_MOMENTUM, name="head_bn")(x)
    x = layers.ReLU(name=LAST_CONV)(x)
    x = layers.GlobalAveragePooling2D(name=GAP)(x)
    if cfg["dropout"]:
        x = layers.Dropout(cfg["dropout"], name="dropout")(x)
    outputs = layers.Dense(1, name=LOGIT)(x)
    return keras.Model(inputs, outputs, name="airspace_cnn")


def configure_threads(threads: int = 2) -> None:
    """Pin TensorFlow's thread pools to the machine's cores (call before building any model)."""
    import tensorflow as tf

    try:
        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(threads)
    except RuntimeError:
        # Already initialised in this process: the pools are fixed, keep them.
        pass
