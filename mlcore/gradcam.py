"""Grad-CAM on an earlier stage, computed inside the exported forward pass (LiteRT builtins only).

1.0.0's CAM sits on the last stage: 3x3 at 160 px. Grad-CAM (Selvaraju et al., 2017) on stage s1 gives a
20x20 map of the same decision: with A the s1 feature map and g = d logit / d A,
    cam = sum_k alpha_k A_k,   alpha_k = mean over positions of g_k,
and relu(sign x cam) is the evidence for the predicted label (sign -1 for NORMAL, as for CAM).
LiteRT has no gradient kernels (ReluGrad, DepthwiseConv2dNativeBackpropInput), so the backward pass from
the logit to s1 is written out here with forward ops only, for this architecture's blocks:
1. head: d logit / d last_conv = w / (h w), masked by last_conv > 0, times the BatchNorm scale, then the
   1x1 head conv transposed;
2. each residual block, last to first: mask by the block output > 0; the branch goes back through BN scale,
   separable conv b (pointwise transposed, depthwise with the kernel flipped), the ReLU mask, BN scale and
   separable conv a (a strided depthwise conv goes back by inserting zeros and a flipped-kernel conv);
   the shortcut through its 1x1 projection likewise; the two are summed.
The logit and last_conv outputs are the model's own, so the score is unchanged; tests/mlcore/test_gradcam.py
checks the gradient against TensorFlow's autodiff.
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np

from mlcore.model import LAST_CONV, LOGIT

# Stage whose feature map carries the map: s1 is at stride 8 (20x20 at the 160 px internal size).
GRADCAM_STAGE = 1
GRADCAM = "gradcam"
_BLOCK_NAME = re.compile(r"s(\d+)b(\d+)_out")


def _bn_scale(layer: Any) -> Any:
    """d BN(x) / dx per channel in inference mode: gamma / sqrt(moving variance + epsilon)."""
    gamma, _beta, _mean, variance = layer.get_weights()
    return (gamma / np.sqrt(variance + layer.epsilon)).astype(np.float32)


def _zero_insert(g: Any) -> Any:
    """(n, h, w, c) -> (n, 2h, 2w, c) with g at even positions and zeros elsewhere."""
    import tensorflow as tf

    _, h, w, c = g.shape
    z = tf.zeros_like(g)
    g = tf.reshape(tf.stack([g, z], axis=3), [-1, h, 2 * w, c])
    z = tf.zeros_like(g)
    return tf.reshape(tf.stack([g, z], axis=2), [-1, 2 * h, 2 * w, c])


def _fit_length(x: Any, start: int, size: int) -> Any:
    """Pad (start > 0) or crop (start < 0) rows and columns so the map starts at `start` and is `size` long."""
    import tensorflow as tf

    if start > 0:
        x = tf.pad(x, [[0, 0], [start, 0], [start, 0], [0, 0]])
    elif start < 0:
        x = x[:, -start:, -start:, :]
    have = x.shape[1]
    if have < size:
        x = tf.pad(x, [[0, 0], [0, size - have], [0, size - have], [0, 0]])
    return x[:, :size, :size, :]


def _depthwise_back(g: Any, kernel: np.ndarray, stride: int, size: int) -> Any:
    """d loss / d input of a 3x3 'same' depthwise conv, given d loss / d output and the input side."""
    import tensorflow as tf

    flipped = tf.constant(kernel[::-1, ::-1].copy())
    if stride == 1:
        return tf.nn.depthwise_conv2d(g, flipped, [1, 1, 1, 1], "SAME")
    out = g.shape[1]
    pad_top = max((out - 1) * stride + 3 - size, 0) // 2
    # Output i read input rows 2i - pad_top .. 2i - pad_top + 2: scatter back by zero insertion, then a
    # VALID correlation with the flipped kernel over the zero-inserted map shifted by (2 - pad_top).
    spread = _fit_length(_zero_insert(g), 2 - pad_top, size + 2)
    return tf.nn.depthwise_conv2d(spread, flipped, [1, 1, 1, 1], "VALID")


def _pointwise_back(g: Any, kernel: np.ndarray) -> Any:
    """d loss / d input of a 1x1 conv with kernel (1, 1, c_in, c_out)."""
    import tensorflow as tf

    return tf.nn.conv2d(g, tf.constant(kernel.transpose(0, 1, 3, 2).copy()), [1, 1, 1, 1], "VALID")


def _block_weights(model: Any, prefix: str) -> dict[str, Any]:
    """The numpy weights one block's backward pass needs (read eagerly, outside the traced function)."""
    get = model.get_layer
    weights = {
        "b": get(f"{prefix}_b_conv").get_weights(),
        "b_scale": _bn_scale(get(f"{prefix}_b_bn")),
        "a": get(f"{prefix}_a_conv").get_weights(),
        "a_scale": _bn_scale(get(f"{prefix}_a_bn")),
    }
    if any(layer.name == f"{prefix}_proj" for layer in model.layers):
        weights["proj"] = get(f"{prefix}_proj").get_weights()[0]
        weights["proj_scale"] = _bn_scale(get(f"{prefix}_proj_bn"))
    return weights


def _block_back(w: dict[str, Any], prefix: str, g: Any, acts: dict[str, Any], size: int, stride: int) -> Any:
    """d logit / d block input from d logit / d block output, for one residual block."""
    import tensorflow as tf

    g = g * tf.cast(acts[f"{prefix}_out"] > 0, tf.float32)
    branch = _pointwise_back(g * w["b_scale"], w["b"][1])
    branch = _depthwise_back(branch, w["b"][0], 1, branch.shape[1])
    branch = branch * tf.cast(acts[f"{prefix}_a_relu"] > 0, tf.float32) * w["a_scale"]
    branch = _depthwise_back(_pointwise_back(branch, w["a"][1]), w["a"][0], stride, size)
    if "proj" not in w:
        return branch + g
    shortcut = _pointwise_back(g * w["proj_scale"], w["proj"])
    if stride != 1:
        shortcut = _fit_length(_zero_insert(shortcut), 0, size)
    return branch + shortcut


def stage_blocks(model: Any) -> list[int]:
    """Blocks per stage, read from the layer names (`s{stage}b{block}_out`)."""
    found = [
        tuple(map(int, m.groups())) for m in map(_BLOCK_NAME.fullmatch, (la.name for la in model.layers)) if m
    ]
    return [1 + max(b for s, b in found if s == stage) for stage in range(1 + max(s for s, _ in found))]


def supports_gradcam(model: Any, stage: int = GRADCAM_STAGE) -> bool:
    """Whether the model has the single-scale head and a stage after `stage` (the Grad-CAM export's input)."""
    names = {layer.name for layer in model.layers}
    return (
        "head_conv" in names
        and not any(n.startswith("head_p") for n in names)
        and (len(stage_blocks(model)) > stage + 1)
    )


def gradcam_model(model: Any, stage: int = GRADCAM_STAGE) -> Any:
    """A Keras model: (n, 224, 224, 1) -> [logit (n, 1), last_conv (n, h, w, k), cam (n, H, W)].

    `cam` is the signed Grad-CAM map on stage `stage`'s output, from the backward pass written as forward
    ops in one layer (so the LiteRT converter sees only builtins); only for the single-scale head.
    """
    import keras
    import tensorflow as tf

    if not supports_gradcam(model, stage):
        raise ValueError("Grad-CAM export needs the single-scale head (cam_stride 0) and a later stage")
    per_stage = stage_blocks(model)
    blocks = [
        (f"s{s}b{b}", 2 if b == 0 else 1)
        for s in range(stage + 1, len(per_stage))
        for b in range(per_stage[s])
    ]
    anchor = f"s{stage}b{per_stage[stage] - 1}_out"
    names = [anchor, LAST_CONV, *(f"{p}_{part}" for p, _ in blocks for part in ("out", "a_relu"))]
    block_weights = {p: _block_weights(model, p) for p, _ in blocks}
    head_kernel = model.get_layer("head_conv").get_weights()[0]
    logit_w = model.get_layer(LOGIT).get_weights()[0].reshape(-1).astype(np.float32)
    head_scale = _bn_scale(model.get_layer("head_bn"))
    # Input side of each block: the previous block's output (the anchor stage's output for the first).
    sides = [int(model.get_layer(anchor).output.shape[1])]
    sides += [int(model.get_layer(f"{p}_out").output.shape[1]) for p, _ in blocks[:-1]]

    class GradCam(keras.layers.Layer):
        """The backward pass from the logit to the anchor stage, then alpha-weighted channel sum."""

        def call(self, tapped: list[Any]) -> Any:
            acts = dict(zip(names, tapped, strict=True))
            last = acts[LAST_CONV]
            g = tf.ones_like(last) * (logit_w / float(last.shape[1] * last.shape[2]))
            g = _pointwise_back(g * tf.cast(last > 0, tf.float32) * head_scale, head_kernel)
            for (prefix, stride), side in zip(reversed(blocks), reversed(sides), strict=True):
                g = _block_back(block_weights[prefix], prefix, g, acts, side, stride)
            alpha = tf.reduce_mean(g, axis=[1, 2], keepdims=True)
            return tf.reduce_sum(alpha * acts[anchor], axis=-1)

        def compute_output_shape(self, shapes: list[tuple[Any, ...]]) -> tuple[Any, ...]:
            return tuple(shapes[0][:3])

    cam = GradCam(name=GRADCAM)([model.get_layer(n).output for n in names])
    outputs = [model.get_layer(LOGIT).output, model.get_layer(LAST_CONV).output, cam]
    return keras.Model(model.input, outputs, name="airspace_cnn_gradcam")


def gradcam_map(cam: np.ndarray, sign: float = 1.0) -> np.ndarray:
    """relu(sign x cam) min-max scaled to 0..1 (zeros if flat): the evidence for the predicted label."""
    level = np.maximum(sign * cam.astype(np.float32), 0.0)
    low, high = float(level.min()), float(level.max())
    return (level - low) / (high - low) if high - low > 1e-6 else np.zeros_like(level)
