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
from tests.fixtures.gate_reference import reference_appearance_vector  # noqa: E402

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
        ("appearance vector (np.hypot, np.histogram)", cpu_ms(reference_appearance_vector, inputs)),
    ]
    for name, ms in rows:
        print(f"{name:<46} {ms:8.3f}")
    largest = max(
        float(np.abs(gate_appearance.appearance_vector(x) - reference_appearance_vector(x)).max())
        for x in inputs
    )
    print(f"{'largest |difference| of the two vectors':<46} {largest:8.2g}")


if __name__ == "__main__":
    main()
