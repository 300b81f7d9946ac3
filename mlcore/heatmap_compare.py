"""Side-by-side CAM heatmaps of two bundles on the same images (a figure for the evaluation report).

    python -m mlcore heatmaps --bundle models/airspace-cnn-2.0.0 --against models/airspace-cnn-1.0.0 \
        --out models/airspace-cnn-2.0.0/report/heatmaps_vs_1.0.0.png

Each bundle runs its own LiteRT export exactly as serving does (same decode, preprocessing, CAM and
overlay), but without the input gate, so every image gets a map. The images are the committed test
fixtures, so the figure can be shipped and regenerated anywhere.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image

from mlcore.config import PROJECT_ROOT
from mlcore.decoding import decode_image
from mlcore.heatmap import heatmap_composite, heatmap_overlay
from mlcore.image import display_size
from mlcore.inference import Predictor, load_predictor
from mlcore.preprocessing import to_model_input

FIXTURES = PROJECT_ROOT / "tests" / "fixtures" / "xrays"
PANEL_SIDE = 320


def default_images(per_class: int = 3) -> list[Path]:
    """The first `per_class` committed fixture X-rays of each class."""
    return [p for c in ("NORMAL", "PNEUMONIA") for p in sorted((FIXTURES / c).glob("*.jpg"))[:per_class]]


def overlay_panel(predictor: Predictor, data: bytes) -> tuple[Image.Image, float, str, tuple[int, int]]:
    """The image with the bundle's CAM overlay composited, its calibrated p, label and CAM grid size."""
    decoded = decode_image(data)
    x = to_model_input(decoded.image)
    logits, conv, cams = predictor.runner.run_with_cam(x[np.newaxis])
    p = predictor.calibrated(float(logits[0]))
    label = "PNEUMONIA" if p >= predictor.threshold else "NORMAL"
    cam = predictor.heatmap_level(conv[0], cams[0] if cams is not None else None, label)
    size = display_size(decoded.width, decoded.height, PANEL_SIDE)
    base = decoded.image.convert("L").resize(size, Image.Resampling.BILINEAR)
    return heatmap_composite(base, heatmap_overlay(cam, size)), p, label, cam.shape[:2]


def side_by_side(bundles: Sequence[Path], images: Sequence[Path], out: Path) -> Path:
    """A grid: one row per image, one column per bundle, titled with version, p, label and map size."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    predictors = [load_predictor(b) for b in bundles]
    fig, axes = plt.subplots(
        len(images), len(predictors), figsize=(3.2 * len(predictors), 3.0 * len(images)), squeeze=False
    )
    for row, path in enumerate(images):
        data = path.read_bytes()
        for col, predictor in enumerate(predictors):
            panel, p, label, grid = overlay_panel(predictor, data)
            ax = axes[row][col]
            ax.imshow(panel)
            ax.set_title(
                f"{predictor.version} ({grid[0]}x{grid[1]} map)\n{path.parent.name}/{path.name[:22]}: "
                f"{label} p={p:.2f}",
                fontsize=7,
            )
            ax.axis("off")
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=100)
    plt.close(fig)
    return out
