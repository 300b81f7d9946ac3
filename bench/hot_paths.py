"""Two per-image hot paths, each against what it replaced, side by side in one run (CPU ms, process time):

1. the web's upload check of a JPEG: header and structure now (`decode_image(validate_only=True)`), against
   the 1/8-scale DCT decode it replaced and a full decode;
2. the input gate's appearance vector now, against the reference it must match (np.hypot, np.histogram),
   with the largest difference between the two.

Over the real X-rays of bench/_stack.image_paths() (the committed fixtures, plus ../shared originals).

    .venv/bin/python bench/hot_paths.py
"""

from __future__ import annotations

import io
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from _stack import image_paths  # noqa: E402

from mlcore import gate_appearance  # noqa: E402
from mlcore.decoding import decode_image  # noqa: E402
from mlcore.preprocessing import to_model_input  # noqa: E402

REPEATS = 3


def cpu_ms(work: Callable[[Any], object], items: list[Any]) -> float:
    """Best of REPEATS passes: CPU ms per item."""
    best = float("inf")
    for _ in range(REPEATS):
        start = time.process_time()
        for item in items:
            work(item)
        best = min(best, (time.process_time() - start) * 1000 / len(items))
    return best


def eighth_scale_decode(data: bytes) -> None:
    """The upload check before 2026-11-28: every entropy-coded block decoded, at 1/8 DCT scale."""
    with Image.open(io.BytesIO(data)) as image:
        image.draft(image.mode, (1, 1))
        image.load()


def reference_appearance(x: np.ndarray) -> np.ndarray:
    """The appearance vector as the gate was fitted (before 2026-11-28): np.hypot and np.histogram."""
    ga = gate_appearance
    gray = x[..., 0].astype(np.float64) / 255.0
    side = gray.shape[0]
    histogram = ga._intensity_histogram(x[..., 0], gray) / gray.size
    gy, gx = np.gradient(gray)
    magnitude = np.hypot(gx, gy)
    angle = ga._half_turn(np.arctan2(gy, gx))
    orientation = np.histogram(angle, bins=ga.ORIENTATION_BINS, range=(0.0, np.pi), weights=magnitude)[0]
    orientation = orientation / (orientation.sum() + 1e-9)
    step = side // ga.PROFILE_BINS
    rows = gray.reshape(ga.PROFILE_BINS, step, side).mean(axis=(1, 2))
    cols = gray.reshape(side, ga.PROFILE_BINS, step).mean(axis=(0, 2))
    cell = side // ga.EDGE_GRID
    edges = (magnitude > ga.EDGE_LEVEL).reshape(ga.EDGE_GRID, cell, ga.EDGE_GRID, cell).mean(axis=(1, 3))
    return np.concatenate([histogram, orientation, ga._profile(rows), ga._profile(cols), edges.ravel()])


def main() -> None:
    uploads = [path.read_bytes() for path in image_paths()]
    inputs = [to_model_input(decode_image(data).image) for data in uploads]
    print(f"{len(uploads)} real X-rays; CPU ms per image, best of {REPEATS} passes")
    rows = [
        (
            "upload check: header + structure (now)",
            cpu_ms(lambda d: decode_image(d, validate_only=True), uploads),
        ),
        ("upload check: 1/8-scale decode (before)", cpu_ms(eighth_scale_decode, uploads)),
        ("full decode (the worker's, at draft scale)", cpu_ms(decode_image, uploads)),
        ("appearance vector (now)", cpu_ms(gate_appearance.appearance_vector, inputs)),
        ("appearance vector (np.hypot, np.histogram)", cpu_ms(reference_appearance, inputs)),
    ]
    for name, ms in rows:
        print(f"{name:<46} {ms:8.3f}")
    largest = max(
        float(np.abs(gate_appearance.appearance_vector(x) - reference_appearance(x)).max()) for x in inputs
    )
    print(f"{'largest |difference| of the two vectors':<46} {largest:8.2g}")


if __name__ == "__main__":
    main()
