"""Real non-chest images for the input gate, kept as evidence vectors (gate_negatives.npz), never images.

`python -m mlcore gate --collect DIR` and `python -m mlcore.export BUNDLE --negatives DIR` build the set
from DIR/<kind>/ images; the gate's contrast and appearance components are oriented by it (mlcore.gate_fit).
Negatives stored before the appearance vector existed (vectors only, the images gone) keep None there and
orient only the contrast component.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from mlcore.decoding import decode_image
from mlcore.errors import InvalidImage
from mlcore.gate import RADIOGRAPHY_MODALITIES, Evidence, gather_evidence
from mlcore.gate_appearance import APPEARANCE_SIZE
from mlcore.preprocessing import to_model_input

NEGATIVES_FILE = "gate_negatives.npz"
# Folders of a collected real-image set: chest X-rays (measured, never fitted) and images that are
# arguably chest radiographs (a CT scout, a chest DRR: neither fitted nor counted); the rest are negatives.
REAL_POSITIVE, REAL_AMBIGUOUS = "chest_xray", "ambiguous"


def extract(runner: Any, blobs: Iterable[bytes]) -> list[Evidence]:
    """Decode each image and run the model once; keep the gate's evidence (undecodable files skipped)."""
    evidence = []
    for data in blobs:
        try:
            decoded = decode_image(data)
        except InvalidImage:
            continue
        x = to_model_input(decoded.image)
        _, conv = runner.run(x[np.newaxis])
        evidence.append(gather_evidence(decoded, x, conv[0]))
    return evidence


@dataclass(frozen=True)
class RealSet:
    """Evidence for real images collected from package registries (stored in the bundle)."""

    evidence: list[Evidence]
    names: list[str]
    categories: list[str]

    @property
    def source(self) -> list[str]:
        """The source package of each image (the file-name prefix), the leave-one-out unit."""
        return [name.split("/")[-1].split("_")[0] for name in self.names]

    def select(self, keep: Any) -> list[Evidence]:
        return [e for e, c, s in zip(self.evidence, self.categories, self.source, strict=True) if keep(c, s)]

    def merged(self, other: RealSet) -> RealSet:
        """This set followed by `other` (e.g. stored registry images plus a new folder); an image of
        `other` replaces a stored one of the same name (re-collecting a folder refreshes its vectors)."""
        replaced = set(other.names)
        keep = [i for i, name in enumerate(self.names) if name not in replaced]
        return RealSet(
            [*(self.evidence[i] for i in keep), *other.evidence],
            [*(self.names[i] for i in keep), *other.names],
            [*(self.categories[i] for i in keep), *other.categories],
        )

    def save(self, path: Path) -> None:
        arrays = {
            f: np.stack([getattr(e, f) for e in self.evidence]) for f in ("features", "layout", "stats")
        }
        arrays["colorfulness"] = np.array([e.colorfulness for e in self.evidence])
        # NaN rows: negatives stored before the appearance vector existed.
        arrays["appearance"] = np.stack(
            [
                e.appearance if e.appearance is not None else np.full(APPEARANCE_SIZE, np.nan)
                for e in self.evidence
            ]
        )
        np.savez(path, names=np.array(self.names), categories=np.array(self.categories), **arrays)

    @classmethod
    def load(cls, path: Path) -> RealSet | None:
        if not path.exists():
            return None
        with np.load(path) as z:
            n = len(z["names"])
            appearance = z["appearance"] if "appearance" in z else np.full((n, APPEARANCE_SIZE), np.nan)
            evidence = [
                Evidence(
                    z["features"][i],
                    z["stats"][i],
                    z["layout"][i],
                    float(z["colorfulness"][i]),
                    {},
                    None if np.isnan(appearance[i]).any() else appearance[i],
                )  # fmt: skip
                for i in range(n)
            ]
            return cls(evidence, [str(n) for n in z["names"]], [str(c) for c in z["categories"]])


def collect_real_set(runner: Any, folder: Path) -> RealSet:
    """Evidence for every decodable image under folder/<category>/ (DICOMs of a non-radiography
    modality are left out: the modality rule rejects them whatever they look like)."""
    evidence, names, categories = [], [], []
    for path in sorted(folder.glob("*/*")):
        if path.suffix.lower() not in (".png", ".jpg", ".jpeg", ".dcm"):
            continue
        found = extract(runner, [path.read_bytes()])
        modality = found[0].meta.get("modality") if found else None
        if not found or (modality and modality not in RADIOGRAPHY_MODALITIES):
            continue
        evidence.append(found[0])
        names.append(f"{path.parent.name}/{path.name}")
        categories.append(path.parent.name)
    return RealSet(evidence, names, categories)


def is_negative_category(category: str) -> bool:
    """Whether a collected image folder holds negatives (not chest X-rays, not ambiguous ones)."""
    return category not in (REAL_POSITIVE, REAL_AMBIGUOUS)
