"""Which acquisition cues a model's score follows on the site sample: framing, resolution, aspect ratio.

    .venv/bin/python bench/shortcut_probe.py --model 1.0.0=models/airspace-cnn-1.0.0/model.keras \
        --model v4=runs/v4_framing/model.keras

The train split's pneumonia originals are smaller (median 1084 px wide against 1633) and wider (width/height
1.43 against 1.24) than its normal ones, so a network can learn the acquisition instead of the lungs. For the
site sample's large normal films (long side >= 1700 px, the ones a shortcut would push toward normal), this
prints the mean logit and the share scored above 0 after editing only one cue at a time, through the one
preprocessing path (`to_model_input`):
- resolution: the original downscaled to a 1100, 700 or 450 px long side (same framing);
- framing: a centre crop keeping 85% or 70% of each side (the chest fills more of the frame);
- aspect: the width stretched by 1.15 (as wide as a typical pneumonia original).
A model that reads the lungs moves little under any of them. Then, on all 150 films, the Spearman
correlation of the logit with the original's long side and aspect ratio within each class.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402

from mlcore import data  # noqa: E402
from mlcore.config import SHARED_DATA_DIR  # noqa: E402
from mlcore.preprocessing import to_model_input  # noqa: E402


def downscale(long_side: int) -> Callable[[Image.Image], Image.Image]:
    def edit(image: Image.Image) -> Image.Image:
        scale = long_side / max(image.size)
        return image.resize((round(image.width * scale), round(image.height * scale)), Image.BICUBIC)

    return edit


def centre_crop(keep: float) -> Callable[[Image.Image], Image.Image]:
    def edit(image: Image.Image) -> Image.Image:
        w, h = round(image.width * keep), round(image.height * keep)
        left, top = (image.width - w) // 2, (image.height - h) // 2
        return image.crop((left, top, left + w, top + h))

    return edit


def widen(factor: float) -> Callable[[Image.Image], Image.Image]:
    return lambda image: image.resize((round(image.width * factor), image.height), Image.BICUBIC)


EDITS: dict[str, Callable[[Image.Image], Image.Image]] = {
    "original": lambda image: image,
    "resolution 1100 px": downscale(1100),
    "resolution 700 px": downscale(700),
    "resolution 450 px": downscale(450),
    "framing: crop 85%": centre_crop(0.85),
    "framing: crop 70%": centre_crop(0.70),
    "aspect: 1.15x wider": widen(1.15),
}


def spearman(a: np.ndarray, b: np.ndarray) -> float:
    ra, rb = np.argsort(np.argsort(a)), np.argsort(np.argsort(b))
    return float(np.corrcoef(ra, rb)[0, 1])


def main() -> None:
    import keras

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", action="append", required=True, help="NAME=path/to/model.keras")
    args = parser.parse_args()
    records = data.scan_folder(SHARED_DATA_DIR / "site_sample")
    images = [Image.open(r.path) for r in records]
    labels = data.labels_of(records)
    long_side = np.array([max(i.size) for i in images], dtype=float)
    aspect = np.array([i.width / i.height for i in images])
    large_normals = [i for i, y, s in zip(images, labels, long_side, strict=True) if y == 0 and s >= 1700]
    print(f"{len(large_normals)} site normals with a long side >= 1700 px")
    print("| model | edit | mean logit | share > 0 |\n| --- | --- | --- | --- |")
    correlations = []
    for name, path in (item.split("=", 1) for item in args.model):
        model = keras.models.load_model(path, compile=False)

        def logits(batch: list[Image.Image], model: object = model) -> np.ndarray:
            x = np.stack([to_model_input(i) for i in batch]).astype(np.float32)
            return np.asarray(model.predict(x, batch_size=32, verbose=0))[:, 0]

        for edit_name, edit in EDITS.items():
            z = logits([edit(i) for i in large_normals])
            print(f"| {name} | {edit_name} | {z.mean():.2f} | {(z > 0).mean():.2f} |")
        z = logits(images)
        for label, cls in ((0, "NORMAL"), (1, "PNEUMONIA")):
            k = labels == label
            correlations.append(
                f"| {name} | {cls} | {spearman(z[k], long_side[k]):.2f} | {spearman(z[k], aspect[k]):.2f} |"
            )
    print(
        "\n| model | class | Spearman(logit, long side) | Spearman(logit, aspect) |\n| --- | --- | --- | --- |"
    )
    print("\n".join(correlations))


if __name__ == "__main__":
    main()
