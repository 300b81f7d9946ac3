"""The one preprocessing path shared by training, evaluation and serving.

The training copies in shared/data were made with
`Image.open(p).convert("RGB").resize((224, 224))` (Pillow's default BICUBIC, aspect squashed, channels equal).
We reproduce exactly that on grayscale: resizing an "L" image equals resizing each equal RGB channel.
Pixel scaling (/255) lives inside the Keras model, so the array handed over is raw 0..255 float32.
"""

from __future__ import annotations

import numpy as np
from PIL import Image

from mlcore.config import INPUT_SIZE

PREPROCESSING_VERSION = "gray-squash-bicubic-224-v1"


def to_grayscale(image: Image.Image) -> Image.Image:
    """Any decoded Pillow image to 8-bit grayscale ("L"), the model's colour space."""
    if image.mode == "L":
        return image
    if image.mode in ("I;16", "I;16B", "I;16L", "I"):
        # 16-bit PNG / DICOM-like data: stretch the used range to 8 bits.
        arr = np.asarray(image, dtype=np.float64)
        lo, hi = float(arr.min()), float(arr.max())
        scaled = (arr - lo) / (hi - lo) * 255.0 if hi > lo else np.zeros_like(arr)
        return Image.fromarray(np.round(scaled).astype(np.uint8), mode="L")
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        # Composite transparency onto black, as a viewer shows a radiograph.
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (0, 0, 0, 255))
        image = Image.alpha_composite(background, rgba)
    return image.convert("RGB").convert("L")


def to_model_input(image: Image.Image, size: int = INPUT_SIZE) -> np.ndarray:
    """A decoded image to the model's input: (size, size, 1) float32 in 0..255, squashed like training."""
    gray = to_grayscale(image)
    if gray.size != (size, size):
        gray = gray.resize((size, size), Image.Resampling.BICUBIC)
    return np.asarray(gray, dtype=np.float32)[..., np.newaxis]


def load_model_input(path: str, size: int = INPUT_SIZE) -> np.ndarray:
    """Read an image file from disk and preprocess it (training and evaluation use this)."""
    with Image.open(path) as image:
        image.load()
        return to_model_input(image, size)
