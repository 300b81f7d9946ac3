"""Tiny synthetic chest-X-ray-like folders for fast pipeline tests (no shared data needed)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image


def synthetic_image(rng: np.random.Generator, label: int, size: int = 224) -> Image.Image:
    """A grey 'thorax' with two dark 'lungs'; pneumonia adds a bright opacity in one lung."""
    yy, xx = np.mgrid[0:size, 0:size] / size
    img = 170 + 20 * rng.standard_normal((size, size))
    for cx in (0.32, 0.68):
        lung = ((xx - cx) / 0.14) ** 2 + ((yy - 0.5) / 0.3) ** 2 < 1
        img[lung] -= 110
    if label:
        cx = rng.choice([0.32, 0.68])
        blob = ((xx - cx) / 0.1) ** 2 + ((yy - rng.uniform(0.4, 0.6)) / 0.12) ** 2 < 1
        img[blob] += 90
    return Image.fromarray(np.clip(img, 0, 255).astype(np.uint8), mode="L")


def make_folder(root: Path, per_class: int = 12, seed: int = 0, size: int = 224) -> Path:
    """`root/{NORMAL,PNEUMONIA}` with Kermany-style names (two images for some patients)."""
    rng = np.random.default_rng(seed)
    for label, cls in enumerate(("NORMAL", "PNEUMONIA")):
        folder = root / cls
        folder.mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            patient = i // 2
            name = f"IM-{patient:04d}-{i:04d}.jpeg" if label == 0 else f"person{patient}_bacteria_{i}.jpeg"
            synthetic_image(rng, label, size).save(folder / name, quality=90)
    return root
