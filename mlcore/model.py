"""The Airspace CNN: a small residual separable-conv network on raw grayscale pixels, ending in one logit.

Contract relied on by serving (CAM heatmaps): `last_conv` (4D feature map) -> `gap` -> [dropout] -> `logit`
(Dense(1), no activation). Pixel scaling travels inside the model; augmentation never does.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

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
    # "none" (1.0.0) or "standardize": per-image zero mean / unit variance inside the model, so exposure
    # differences between sites are removed in the one path training and serving share.
    "normalize": "none",
    # 0 (1.0.0): CAM on the last stage only (3x3 at 160 px). 8 or 16: a multi-scale head at that stride,
    # every deeper stage projected and resized onto the finer map (CAM stays exact: GAP -> Dense).
    "cam_stride": 0,
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


def _backbone(x: Any, stage_filters: Sequence[int], blocks_per_stage: Sequence[int]) -> list[Any]:
    """Stages of residual blocks, each halving the resolution in its first block; every stage's output."""
    outputs = []
    for stage, (filters, blocks) in enumerate(zip(stage_filters, blocks_per_stage, strict=True)):
        for block in range(blocks):
            x = _residual_block(x, filters, 2 if block == 0 else 1, f"s{stage}b{block}")
        outputs.append(x)
    return outputs


def first_cam_stage(cam_stride: int) -> int:
    """The first stage at stride >= cam_stride: the stem halves the input, each stage halves again, so stage
    i sits at stride 2**(i + 2)."""
    return max(0, int(np.log2(cam_stride)) - 2)


class CamHead:
    """The layers of the multi-scale CAM head, callable on any list of stage tensors (shared weights).

    1. each kept stage gets a 1x1 conv to `filters` channels, deeper ones are resized (bilinear) to the
       finest kept map and all are summed (`head_conv`);
    2. BatchNorm and ReLU give `last_conv`, the CAM feature map, at the finest kept stage's resolution;
    3. `gap` -> [dropout] -> `logit` (Dense(1)), so CAM stays exact.
    Being callable twice lets mlcore.head_refit train it on cached stage maps and then attach the same
    layers to a frozen backbone.
    """

    def __init__(self, shapes: Sequence[tuple[int, int]], first: int, filters: int, dropout: float) -> None:
        from keras import layers

        height, width = shapes[0]
        self.projections = [
            layers.Conv2D(filters, 1, use_bias=False, name=f"head_p{first + i}") for i in range(len(shapes))
        ]
        self.resizes = [
            None
            if shape == (height, width)
            else layers.Resizing(height, width, interpolation="bilinear", name=f"head_up{first + i}")
            for i, shape in enumerate(shapes)
        ]
        self.add = layers.Add(name="head_conv") if len(shapes) > 1 else None
        self.bn = layers.BatchNormalization(momentum=BN_MOMENTUM, name="head_bn")
        self.relu = layers.ReLU(name=LAST_CONV)
        self.gap = layers.GlobalAveragePooling2D(name=GAP)
        self.dropout = layers.Dropout(dropout, name="dropout") if dropout else None
        self.logit = layers.Dense(1, name=LOGIT)

    def __call__(self, stages: Sequence[Any]) -> Any:
        """The logit tensor for the kept stage tensors (finest first)."""
        maps = []
        for tensor, project, resize in zip(stages, self.projections, self.resizes, strict=True):
            y = project(tensor)
            maps.append(resize(y) if resize is not None else y)
        x = self.relu(self.bn(self.add(maps) if self.add is not None else maps[0]))
        x = self.gap(x)
        return self.logit(self.dropout(x) if self.dropout is not None else x)


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
    if cfg["normalize"] == "standardize":
        # Per-image standardisation: LayerNormalization over (h, w, c) without scale/offset.
        x = layers.LayerNormalization(axis=[1, 2, 3], center=False, scale=False, name="standardize")(x)
    x = _conv_bn(x, cfg["stem_filters"], 3, 2, "stem", separable=False)
    stages = _backbone(x, cfg["stage_filters"], cfg["blocks_per_stage"])
    if cfg["cam_stride"]:
        kept = stages[first_cam_stage(cfg["cam_stride"]) :]
        shapes = [(int(t.shape[1]), int(t.shape[2])) for t in kept]
        head = CamHead(shapes, first_cam_stage(cfg["cam_stride"]), cfg["stage_filters"][-1], cfg["dropout"])
        return keras.Model(inputs, head(kept), name="airspace_cnn")
    # 1x1 conv head: the CAM feature map; named so serving can read it.
    x = layers.Conv2D(cfg["stage_filters"][-1], 1, use_bias=False, name="head_conv")(stages[-1])
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
