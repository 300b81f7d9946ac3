"""Heatmap overlay size: worker CPU and file size per longest side, and what a viewer would see differ.

For each candidate longest side, over the real X-rays of bench/_stack.image_paths() and the shipped
bundle's own maps: CPU ms per overlay PNG (process time), KiB per file, and the difference from a 512 px
overlay once both are stretched (bilinear) to 512 px and composited over mid-gray, as the viewer, the PDF
report and the DICOM capture show them (levels of 0..255, mean / median of the per-image p99 / max).

    .venv/bin/python bench/heatmap_size.py
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from _stack import image_paths  # noqa: E402

from mlcore.decoding import decode_image  # noqa: E402
from mlcore.heatmap import HEATMAP_MAX_SIDE, heatmap_overlay, heatmap_png  # noqa: E402
from mlcore.image import display_size  # noqa: E402
from mlcore.inference import load_predictor  # noqa: E402
from mlcore.preprocessing import to_model_input  # noqa: E402

SIDES = (512, 384, 256, 192, 128)
REFERENCE = 512


def maps() -> list[tuple[np.ndarray, int, int]]:
    """(0..1 map for the predicted label, original width, height) per bench X-ray."""
    predictor = load_predictor()
    out = []
    for path in image_paths():
        decoded = decode_image(path.read_bytes())
        x = to_model_input(decoded.image)
        logits, conv, cam = predictor.runner.run_with_cam(x[np.newaxis])
        label = "PNEUMONIA" if predictor.calibrated(float(logits[0])) >= predictor.threshold else "NORMAL"
        level = predictor.heatmap_level(conv[0], cam[0] if cam is not None else None, label)
        out.append((level, decoded.width, decoded.height))
    return out


def shown(overlay: Image.Image, size: tuple[int, int]) -> np.ndarray:
    """The overlay stretched to size and composited over mid-gray: what a reader sees, as RGB ints."""
    base = Image.new("RGBA", size, (128, 128, 128, 255))
    stretched = overlay if overlay.size == size else overlay.resize(size, Image.Resampling.BILINEAR)
    return np.asarray(Image.alpha_composite(base, stretched).convert("RGB")).astype(np.int16)


def main() -> None:
    levels = maps()
    rows = []
    for side in SIDES:
        start, size = time.process_time(), 0
        for level, width, height in levels:
            size += len(heatmap_png(level, display_size(width, height, side)))
        cpu_ms = (time.process_time() - start) * 1000 / len(levels)
        diffs = []
        for level, width, height in levels:
            target = display_size(width, height, REFERENCE)
            reference = shown(heatmap_overlay(level, target), target)
            overlay = heatmap_overlay(level, display_size(width, height, side))
            diffs.append(np.abs(shown(overlay, target) - reference))
        rows.append(
            [
                f"{side}{' (served)' if side == HEATMAP_MAX_SIDE else ''}",
                f"{cpu_ms:.2f}",
                f"{size / len(levels) / 1024:.1f}",
                f"{np.mean([d.mean() for d in diffs]):.3f}",
                f"{np.median([np.percentile(d, 99) for d in diffs]):.0f}",
                f"{max(int(d.max()) for d in diffs)}",
            ]
        )
    print(f"{len(levels)} real X-rays; difference from a {REFERENCE} px overlay as shown (levels of 255)")
    header = ["longest side px", "CPU ms/overlay", "KiB/file", "mean diff", "p99 (median)", "max"]
    for row in [header, *rows]:
        print(f"{row[0]:<16}" + "".join(f"{cell:>15}" for cell in row[1:]))


if __name__ == "__main__":
    main()
