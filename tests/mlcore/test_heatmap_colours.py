"""Heatmap colouring: a perceptually uniform map, transparent where evidence is weak, matching the legend."""

from __future__ import annotations

import io
import re

import numpy as np
from PIL import Image as PILImage

from mlcore.heatmap import (
    ALPHA_FLOOR,
    ALPHA_MAX,
    HEATMAP_COLOUR_MAP,
    colour_table,
    colourise,
    heatmap_overlay,
    heatmap_png,
)
from tests.conftest import ROOT


def luminance(rgb: np.ndarray) -> np.ndarray:
    """Relative luminance (sRGB, WCAG) of uint8 RGB rows."""
    c = rgb.astype(np.float64) / 255.0
    linear = np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)
    return linear @ np.array([0.2126, 0.7152, 0.0722])


def test_colourise_gives_rgba_of_the_same_shape_for_floats_and_bytes() -> None:
    level = np.linspace(0, 1, 12).reshape(3, 4)
    rgba = colourise(level)
    assert rgba.shape == (3, 4, 4) and rgba.dtype == np.uint8
    assert np.array_equal(colourise(np.round(level * 255).astype(np.uint8)), rgba)


def test_the_map_is_perceptually_ordered_not_a_rainbow() -> None:
    """Lightness rises steadily from weak to strong evidence (Turbo's falls by 0.012 per step past yellow).

    The tolerance covers rounding to 8 bits only.
    """
    table = colour_table()
    assert HEATMAP_COLOUR_MAP in {"viridis", "cividis", "inferno", "magma", "plasma"}
    steps = np.diff(luminance(table[:, :3]))
    assert steps.min() > -0.001 and luminance(table[-1:, :3])[0] - luminance(table[:1, :3])[0] > 0.7


def test_weak_evidence_is_transparent_and_strong_evidence_is_capped() -> None:
    alpha = colour_table()[:, 3]
    floor = int(ALPHA_FLOOR * 255)
    assert np.all(alpha[: floor + 1] == 0) and alpha[-1] == round(ALPHA_MAX * 255)
    assert np.all(np.diff(alpha.astype(int)) >= 0)


def test_overlay_uses_the_colour_table() -> None:
    cam = np.array([[0.0, 1.0], [0.5, 0.25]], dtype=np.float32)
    overlay = np.asarray(heatmap_overlay(cam, (2, 2)))
    assert overlay.shape == (2, 2, 4)
    assert tuple(overlay[0, 1]) == tuple(colour_table()[255])


def test_the_png_is_the_overlay_pixel_for_pixel() -> None:
    """The indexed PNG (palette = colour table) decodes to exactly the RGBA overlay, odd sizes included."""
    rng = np.random.default_rng(7)
    for size in ((512, 417), (301, 512), (64, 64)):
        cam = rng.random((7, 7)).astype(np.float32)
        with PILImage.open(io.BytesIO(heatmap_png(cam, size))) as png:
            decoded = np.asarray(png.convert("RGBA"))
        assert decoded.shape == (size[1], size[0], 4)
        assert np.array_equal(decoded, np.asarray(heatmap_overlay(cam, size)))


def test_the_page_legend_shows_the_same_colours() -> None:
    """app.css's legend gradient: the map's colours from the alpha floor to the top, in five even stops."""
    css = (ROOT / "portal" / "static" / "css" / "app.css").read_text()
    rule = re.search(r"\.legend-bar \{[^}]*linear-gradient\(to right, ([^)]*)\)", css)
    assert rule, "no legend gradient in app.css"
    stops = [s.strip() for s in rule.group(1).split(",")]
    expected = [
        "#" + "".join(f"{int(c):02x}" for c in colour_table()[round(t * 255), :3])
        for t in np.linspace(ALPHA_FLOOR, 1.0, len(stops))
    ]
    assert stops == expected
