"""A decoded image and the size rules every decoder shares (raster and DICOM alike).

No decoder lives here: `mlcore.decoding` (JPEG, PNG, dispatch) and `mlcore.dicom` both build on it, so neither
imports the other's internals.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from PIL import Image

from mlcore.config import INPUT_SIZE
from mlcore.errors import InvalidImage

# Large images are reduced by an integer factor while both sides stay >= this (2x the model input); see
# mlcore.decoding for the measured parity of the reduced-scale decode.
DRAFT_MIN_SIDE = 2 * INPUT_SIZE
DISPLAY_MAX_SIDE = 1024


@dataclass(frozen=True)
class DecodedImage:
    """A decoded upload: the grayscale image for the model plus what we learned about the original."""

    image: Image.Image
    width: int
    height: int
    format: str
    mode: str
    meta: dict[str, Any] = field(default_factory=dict)
    flags: tuple[str, ...] = ()
    colorfulness: float = 0.0

    @property
    def display_size(self) -> tuple[int, int]:
        """The original's size scaled so the longest side is at most DISPLAY_MAX_SIDE (for overlays)."""
        return display_size(self.width, self.height)

    def display_image(self, max_side: int = DISPLAY_MAX_SIDE) -> Image.Image:
        """The 8-bit grayscale picture a viewer shows, longest side at most max_side."""
        image = self.image.copy()
        image.thumbnail((max_side, max_side), Image.Resampling.LANCZOS)
        return image

    def display_png(self, max_side: int = DISPLAY_MAX_SIDE) -> bytes:
        """The display picture as PNG (useful for DICOM, which browsers cannot show)."""
        out = io.BytesIO()
        self.display_image(max_side).save(out, format="PNG", optimize=False)
        return out.getvalue()


def display_size(width: int, height: int, max_side: int = DISPLAY_MAX_SIDE) -> tuple[int, int]:
    """(width, height) scaled down so the longest side is at most max_side, aspect kept."""
    scale = min(1.0, max_side / max(width, height))
    return max(1, round(width * scale)), max(1, round(height * scale))


def check_dimensions(width: int, height: int, *, max_pixels: int, min_side: int) -> None:
    """Refuse too many pixels (decompression bombs) or too small sides, from header values."""
    if width * height > max_pixels:
        raise InvalidImage(
            f"The image is {width}×{height} pixels, more than the {max_pixels / 1e6:.0f} megapixel limit.",
            code="too_many_pixels",
        )
    if min(width, height) < min_side:
        raise InvalidImage(
            f"The image is only {width}×{height} pixels; at least {min_side} pixels a side are needed.",
            code="image_too_small",
        )


def reduction_factor(width: int, height: int) -> int:
    """The largest of 8, 4, 2 (else 1) that keeps both sides >= DRAFT_MIN_SIDE."""
    return next((f for f in (8, 4, 2) if min(width, height) // f >= DRAFT_MIN_SIDE), 1)


def colorfulness(image: Image.Image) -> float:
    """Hasler–Süsstrunk colourfulness of the original (0 for gray; X-rays score near 0, photos > 15)."""
    if image.mode in ("L", "I", "I;16", "I;16B", "I;16L", "F", "1", "LA"):
        return 0.0
    small = image.convert("RGB")
    small.thumbnail((128, 128))
    rgb = np.asarray(small, dtype=np.float32)
    rg = rgb[..., 0] - rgb[..., 1]
    yb = 0.5 * (rgb[..., 0] + rgb[..., 1]) - rgb[..., 2]
    return float(np.hypot(rg.std(), yb.std()) + 0.3 * np.hypot(rg.mean(), yb.mean()))
