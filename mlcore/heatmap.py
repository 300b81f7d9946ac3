"""Class activation maps (CAM) and their rendering as a transparent RGBA PNG overlay.

For a `last_conv → GlobalAveragePooling → Dense(1)` head, CAM is exact: the logit is the spatial mean of
`last_conv · w` plus the bias, so `relu(last_conv · w)` shows where the pneumonia evidence sits, at no cost
beyond the forward pass that produced the probability.
"""

from __future__ import annotations

import functools
import struct
import zlib

import numpy as np
from PIL import Image

# Below this fraction of the map's maximum the overlay is fully transparent.
ALPHA_FLOOR = 0.2
ALPHA_MAX = 0.75
# The map has one value per cell (Grad-CAM 20x20, CAM 7x7), so a 256 px overlay (12+ px per cell, bicubic)
# loses nothing a viewer can see; the viewer, the report and the DICOM capture stretch it over the X-ray.
# Over the 156 bench X-rays, stretched (bilinear) to 512 and composited over gray, it differs from a 512 px
# overlay by 0.09 of a level on average (p99 1, max 11 of 255) and costs 0.62 ms per image against 2.6
# (python bench/heatmap_size.py); it was 512 px before 2026-11-28.
HEATMAP_MAX_SIDE = 256


def class_activation_map(last_conv: np.ndarray, weights: np.ndarray, sign: float = 1.0) -> np.ndarray:
    """relu(sign · Σ_k A_k · w_k) for one (h, w, k) feature map, min-max scaled to 0..1 (zeros if flat).

    sign=+1 maps the evidence for PNEUMONIA, sign=-1 the evidence for NORMAL (the logit's other class);
    the predictor passes the sign of the predicted label, as Grad-CAM does for the predicted class.

    Min-max rather than divide-by-max: the map shows where evidence is strongest relative to the rest of
    this image, so a map that is high everywhere still has a visible peak and transparent background.
    """
    cam = np.maximum(sign * (last_conv.astype(np.float32) @ weights.astype(np.float32).reshape(-1)), 0.0)
    low, high = float(cam.min()), float(cam.max())
    return (cam - low) / (high - low) if high - low > 1e-6 else np.zeros_like(cam)


# Perceptually uniform: equal steps in the map are equal steps in lightness, so the colours invent no
# edges (a rainbow's bright yellow band reads as a boundary that is not there), and the order survives
# greyscale printing and colour-vision deficiency. The page's legend (portal/static/css/app.css,
# `.legend-bar`) shows the same colours; tests/mlcore/test_heatmap_colours.py keeps the two in step.
HEATMAP_COLOUR_MAP = "viridis"


@functools.cache
def colour_table() -> np.ndarray:
    """256 RGBA rows (uint8): the colour map, transparent below ALPHA_FLOOR and ramping up to ALPHA_MAX."""
    from matplotlib import colormaps  # lazily: only a process that draws heatmaps pays for matplotlib

    steps = np.linspace(0.0, 1.0, 256)
    rgb = colormaps[HEATMAP_COLOUR_MAP](steps)[:, :3] * 255.0
    alpha = np.clip((steps - ALPHA_FLOOR) / (1 - ALPHA_FLOOR), 0, 1) * ALPHA_MAX * 255.0
    return np.round(np.column_stack([rgb, alpha])).astype(np.uint8)


def colourise(level: np.ndarray) -> np.ndarray:
    """A map of 0..1 floats (or 0..255 uint8) → an RGBA uint8 image of the same height and width."""
    if level.dtype != np.uint8:
        level = np.round(np.clip(level, 0.0, 1.0) * 255.0).astype(np.uint8)
    return colour_table()[level]


def heatmap_levels(cam: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Upsample a 0..1 CAM to `size` (width, height) as 0..255 levels (uint8, bicubic): the colour index."""
    small = Image.fromarray(np.round(cam * 255.0).astype(np.uint8), mode="L")
    return np.asarray(small.resize(size, Image.Resampling.BICUBIC))


def heatmap_overlay(cam: np.ndarray, size: tuple[int, int]) -> Image.Image:
    """Upsample a 0..1 CAM to `size` (width, height) and colour it; transparent where activation is low."""
    return Image.fromarray(colourise(heatmap_levels(cam, size)))


def heatmap_png(cam: np.ndarray, size: tuple[int, int]) -> bytes:
    """The overlay as PNG bytes: decoded to RGBA it is heatmap_overlay() pixel for pixel."""
    return encode_png_indexed(heatmap_levels(cam, size), colour_table())


def heatmap_composite(base: Image.Image, overlay: Image.Image) -> Image.Image:
    """The X-ray with the overlay stretched over it, as a viewer shows it: one RGB image."""
    rgba = base.convert("RGBA")
    if overlay.size != rgba.size:
        overlay = overlay.convert("RGBA").resize(rgba.size, Image.Resampling.BILINEAR)
    return Image.alpha_composite(rgba, overlay.convert("RGBA")).convert("RGB")


def _chunk(kind: bytes, body: bytes) -> bytes:
    """One PNG chunk: length, type, body, CRC."""
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def encode_png_indexed(index: np.ndarray, palette: np.ndarray) -> bytes:
    """A minimal indexed-colour PNG: the 256 RGBA palette rows in PLTE + tRNS, no row filters, zlib level 1.

    The overlay's colour is a function of one byte (its level), so one byte per pixel with the colour
    table as palette is the same image as RGBA at a quarter of the bytes to build and compress: 4x less
    worker CPU per prediction (bench/inference.py) and ~2x smaller files. Browsers and Pillow apply tRNS
    alpha to palette images. Unfiltered rows: Pillow's encoder spends most of its time choosing row
    filters, and a smooth overlay compresses almost as well without them.
    """
    height, width = index.shape
    raw = np.zeros((height, width + 1), dtype=np.uint8)  # column 0: filter type 0 (None)
    raw[:, 1:] = index
    header = struct.pack(">IIBBBBB", width, height, 8, 3, 0, 0, 0)  # 8-bit palette, no interlace
    return b"".join(
        (
            b"\x89PNG\r\n\x1a\n",
            _chunk(b"IHDR", header),
            _chunk(b"PLTE", np.ascontiguousarray(palette[:, :3]).tobytes()),
            _chunk(b"tRNS", np.ascontiguousarray(palette[:, 3]).tobytes()),
            _chunk(b"IDAT", zlib.compress(raw.tobytes(), 1)),
            _chunk(b"IEND", b""),
        )
    )
