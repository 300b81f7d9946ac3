"""The diagnostic viewer's server side on a 3,000 px 16-bit film: the preview and the full-resolution pixels.

.venv/bin/python bench/viewer.py [--runs 5] [--side 3000]

Prints, median of the runs, the time and size of what the two endpoints send for one film: the 8-bit preview
(/studies/<id>/image/: mlcore.decoding.decode_image(...).display_png()) and the stored values
(/studies/<id>/pixels/: mlcore.viewer_pixels, compressed only when a sample shrinks; level 1 forced for
comparison), for a 16-bit film and a 12-bit one. No Django, no network:
the browser side (time to the preview and to the full canvas) is printed by
tests/e2e/test_viewer_browser.py::test_a_3000_px_film_shows_its_preview_first_then_full_resolution.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from mlcore.decoding import decode_image  # noqa: E402
from mlcore.viewer_pixels import decode_viewer_pixels  # noqa: E402
from tests.fixtures.dicoms import make_dicom, xray_pixels  # noqa: E402


def film(side: int, bits: int = 16) -> bytes:
    """A committed X-ray upscaled to side x 5/6 side, with detector-like noise (sigma 0.5 % of the range)."""
    small = xray_pixels(bits, index=5).astype(np.float32)
    size = (side, side * 5 // 6)
    big = np.asarray(Image.fromarray(small, mode="F").resize(size, Image.Resampling.BILINEAR))
    top = 2**bits - 1
    noisy = big + np.random.default_rng(7).normal(0, top * 0.005, big.shape).astype(np.float32)
    pixels = np.clip(noisy, 0, top).astype(np.uint16)
    return make_dicom(pixels, bits_stored=bits, window=(round(top * 0.49), round(top * 0.61)))


def timed(work: Callable[[], bytes], runs: int) -> tuple[float, int]:
    """Median milliseconds of `runs` calls, and the size of what one call returned."""
    times, size = [], 0
    for _ in range(runs):
        started = time.perf_counter()
        size = len(work())
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times), size


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--side", type=int, default=3000)
    args = parser.parse_args()
    data, twelve = film(args.side), film(args.side, bits=12)
    rows = [
        ("preview PNG (/image/)", lambda: decode_image(data).display_png()),
        ("full pixels, as sent (/pixels/)", lambda: decode_viewer_pixels(data).encode()),
        ("full pixels, zlib 1 forced", lambda: decode_viewer_pixels(data).encode(level=1)),
        ("12-bit film, as sent", lambda: decode_viewer_pixels(twelve).encode()),
    ]
    print(
        f"16-bit DICOM {args.side} x {args.side * 5 // 6}, {len(data) / 2**20:.1f} MiB, median of {args.runs}"
    )
    for name, work in rows:
        ms, size = timed(work, args.runs)
        print(f"  {name:34s} {ms:7.0f} ms  {size / 2**20:6.2f} MiB")


if __name__ == "__main__":
    main()
