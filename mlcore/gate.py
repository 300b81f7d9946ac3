"""The input gate: is this a frontal chest X-ray the model was made for?

Every threshold is set on chest X-rays only (held-out patients' images); no negative sets a threshold:
1. deep score: Mahalanobis distance of the model's own GAP features from the training X-rays' distribution
   (shrunk covariance), divided by a threshold set on held-out patients' images;
2. layout: the same distance for where bright and dark sit in the image;
3. contrast: a regularised logistic direction in (features, layout, statistics) separating chest X-rays
   from negatives (synthetic photos, documents and textures, plus real CT/MR/ultrasound/other radiographs
   gathered from package registries); negatives only orient it, its threshold is a chest X-ray quantile;
3b. appearance: the same kind of direction in model-free image features (mlcore.gate_appearance:
   histogram, edge orientations, row/column profiles, edge density) and the statistics, which separate
   limb and dental radiographs from chest films where the model's features do not;
4. image statistics of the decoded image (colour, shape, brightness, edges, left-right symmetry), each
   compared with the range seen on chest X-rays;
5. DICOM modality: only projection radiography (CR/DX/DR) is read.
The gate score is the largest of these, normalised so that 1.0 is the boundary: > 1 is rejected.

`python -m mlcore gate --evaluate [BUNDLE]` measures the rates (see mlcore/gate_cli.py).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from mlcore.gate_appearance import appearance_vector
from mlcore.image import DecodedImage

STAT_NAMES = ("log_aspect", "mean", "std", "white_fraction", "black_fraction", "edges", "symmetry", "entropy")
# Colour is domain knowledge rather than a fitted range: radiographs are gray; an RGB-saved X-ray only
# carries JPEG chroma noise (colourfulness < 3 on the originals), a photo or screenshot scores > 15.
MAX_COLORFULNESS = 10.0
RADIOGRAPHY_MODALITIES = frozenset({"CR", "DX", "DR", "RG", "OT", "SC", "PX"})

REASONS = {
    "deep": "The image does not look like a frontal chest X-ray (it may be another body part, a lateral "
    "or rotated view, or not a radiograph at all). The model only reads frontal chest radiographs.",
    "colorfulness": "The image is in colour, like a photograph or screenshot; radiographs are grayscale.",
    "log_aspect": "The image's shape is unlike a chest X-ray (far too wide or too tall).",
    "document": "The image looks like a document, screenshot or drawing rather than a radiograph.",
    "modality": "This DICOM image is not a plain radiograph ({modality}); the model only reads chest X-rays "
    "(CR/DX).",
}
_REASON_PRIORITY = ("colorfulness", "log_aspect", "white_fraction", "black_fraction", "edges", "entropy",
                    "mean", "std", "symmetry", "layout", "appearance", "contrast", "deep")  # fmt: skip
_DOCUMENT_STATS = {"mean", "std", "white_fraction", "black_fraction", "edges", "entropy", "symmetry"}


@dataclass(frozen=True)
class GateVerdict:
    """The gate's decision on one image."""

    accepted: bool
    score: float
    reason: str = ""
    component: str = ""
    scores: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class Evidence:
    """What the gate looks at for one image, all from the decode and the one forward pass."""

    features: np.ndarray  # the model's GAP vector
    stats: np.ndarray  # image_statistics, STAT_NAMES order
    layout: np.ndarray  # layout_vector: where bright and dark sit
    colorfulness: float
    meta: dict[str, Any]
    # gate_appearance.appearance_vector; None for negatives stored before it existed (vectors only).
    appearance: np.ndarray | None = None


def gather_evidence(decoded: DecodedImage, x: np.ndarray, last_conv: np.ndarray) -> Evidence:
    """Evidence from a decoded image, its (224, 224, 1) model input and its (h, w, k) last_conv map."""
    return Evidence(
        features=last_conv.mean(axis=(0, 1)),
        stats=image_statistics(decoded, x),
        layout=layout_vector(x),
        colorfulness=decoded.colorfulness,
        meta=decoded.meta,
        appearance=appearance_vector(x),
    )


def contrast_vector(evidence: Evidence) -> np.ndarray:
    """What the contrast component reads: GAP features, layout and image statistics, concatenated."""
    return np.concatenate([evidence.features, evidence.layout, evidence.stats]).astype(np.float64)


def appearance_contrast_vector(evidence: Evidence) -> np.ndarray:
    """What the appearance component reads: the appearance vector and the image statistics."""
    if evidence.appearance is None:
        raise ValueError("evidence without an appearance vector")
    return np.concatenate([evidence.appearance, evidence.stats]).astype(np.float64)


def layout_vector(x: np.ndarray) -> np.ndarray:
    """The 224 input as 14x14 block means, standardised: the lungs-mediastinum-diaphragm arrangement."""
    blocks = x[..., 0].reshape(14, 16, 14, 16).mean(axis=(1, 3)).ravel().astype(np.float64)
    return (blocks - blocks.mean()) / (blocks.std() + 1e-6)


def image_statistics(decoded: DecodedImage, x: np.ndarray) -> np.ndarray:
    """Cheap statistics of an image (STAT_NAMES order) from its 224 model input and original size."""
    gray = x[..., 0] / 255.0
    gx, gy = np.abs(np.diff(gray, axis=1)).mean(), np.abs(np.diff(gray, axis=0)).mean()
    centred = gray - gray.mean()
    mirrored = centred[:, ::-1]
    denom = float(np.sqrt((centred**2).sum() * (mirrored**2).sum())) or 1.0
    hist = np.bincount(np.minimum((gray * 32).astype(np.int32), 31).ravel(), minlength=32) / gray.size
    entropy = -float((hist[hist > 0] * np.log2(hist[hist > 0])).sum())
    return np.array(
        [
            math.log(decoded.width / decoded.height),
            gray.mean(),
            gray.std(),
            (gray >= 250 / 255).mean(),
            (gray <= 5 / 255).mean(),
            gx + gy,
            float((centred * mirrored).sum()) / denom,
            entropy,
        ],
        dtype=np.float64,
    )


@dataclass(frozen=True)
class Gaussian:
    """A one-class Gaussian: RMS Mahalanobis distance, normalised by a threshold set on chest X-rays."""

    mean: np.ndarray
    precision: np.ndarray
    threshold: float = 1.0

    def distance(self, vectors: np.ndarray) -> np.ndarray:
        """RMS Mahalanobis distance per dimension for one (k,) or many (n, k) vectors."""
        delta = np.atleast_2d(vectors).astype(np.float64) - self.mean
        squared = np.einsum("ij,jk,ik->i", delta, self.precision.astype(np.float64), delta)
        return np.sqrt(np.maximum(squared, 0.0) / delta.shape[1])

    def score(self, vector: np.ndarray) -> float:
        """distance / threshold for one vector (> 1 is outside)."""
        return float(self.distance(vector)[0] / self.threshold)


@dataclass(frozen=True)
class Contrast:
    """A logistic direction (chest X-ray = low logit); normalised so 0 is the chest X-rays' median logit
    and 1.0 the threshold set on held-out chest X-rays."""

    mean: np.ndarray
    scale: np.ndarray
    weights: np.ndarray
    bias: float
    centre: float = 0.0
    threshold: float = 1.0

    def logit(self, vectors: np.ndarray) -> np.ndarray:
        """Logit of "not a chest X-ray" for one (k,) or many (n, k) contrast vectors."""
        standard = (np.atleast_2d(vectors).astype(np.float64) - self.mean) / self.scale
        return standard @ self.weights + self.bias

    def normalised(self, vectors: np.ndarray) -> np.ndarray:
        """(logit - centre) / (threshold - centre): > 1 is outside."""
        return (self.logit(vectors) - self.centre) / (self.threshold - self.centre)


_CONTRAST_FIELDS = ("mean", "scale", "weights", "bias", "centre", "threshold")


def _load_contrast(z: Any, prefix: str) -> Contrast | None:
    """A Contrast stored under `prefix_*` in gate.npz, or None when the gate predates it."""
    if f"{prefix}_weights" not in z:
        return None
    values = {f: z[f"{prefix}_{f}"] for f in _CONTRAST_FIELDS}
    return Contrast(
        values["mean"].astype(np.float64),
        values["scale"].astype(np.float64),
        values["weights"].astype(np.float64),
        *(float(values[f]) for f in ("bias", "centre", "threshold")),
    )


@dataclass(frozen=True)
class Gate:
    """Fitted gate parameters (stored in the bundle as gate.npz)."""

    deep: Gaussian
    layout: Gaussian
    stat_low: np.ndarray
    stat_high: np.ndarray
    contrast: Contrast | None = None  # absent in gates fitted before it existed
    appearance: Contrast | None = None  # likewise

    @classmethod
    def load(cls, path: Path) -> Gate:
        """Read gate.npz."""
        with np.load(path) as z:
            deep, layout = (
                Gaussian(z[f"{n}_mean"], z[f"{n}_precision"], float(z[f"{n}_threshold"]))
                for n in ("deep", "layout")
            )
            contrast, appearance = (_load_contrast(z, prefix) for prefix in ("contrast", "appearance"))
            return cls(deep, layout, z["stat_low"], z["stat_high"], contrast, appearance)

    def save(self, path: Path) -> None:
        """Write gate.npz (float32 matrices keep it small)."""
        arrays: dict[str, np.ndarray] = {"stat_low": self.stat_low, "stat_high": self.stat_high}
        for name, gaussian in (("deep", self.deep), ("layout", self.layout)):
            arrays[f"{name}_mean"] = gaussian.mean.astype(np.float32)
            arrays[f"{name}_precision"] = gaussian.precision.astype(np.float32)
            arrays[f"{name}_threshold"] = np.float64(gaussian.threshold)
        for prefix, contrast in (("contrast", self.contrast), ("appearance", self.appearance)):
            if contrast is not None:
                arrays.update({f"{prefix}_{f}": np.asarray(getattr(contrast, f)) for f in _CONTRAST_FIELDS})
        np.savez(path, **arrays)

    def stat_excess(self, stats: np.ndarray) -> np.ndarray:
        """Per statistic: 0 inside the chest X-ray range, else 1 + the distance outside it in range widths."""
        width = np.maximum(self.stat_high - self.stat_low, 1e-6)
        outside = np.maximum((self.stat_low - stats) / width, (stats - self.stat_high) / width)
        return np.where(outside > 0, 1.0 + outside, 0.0)

    def components(self, evidence: Evidence) -> dict[str, float]:
        """Each component's normalised score (> 1 rejects)."""
        scores = {
            "deep": self.deep.score(evidence.features),
            "layout": self.layout.score(evidence.layout),
            "colorfulness": evidence.colorfulness / MAX_COLORFULNESS,
        }
        if self.contrast is not None:
            scores["contrast"] = float(self.contrast.normalised(contrast_vector(evidence))[0])
        if self.appearance is not None and evidence.appearance is not None:
            scores["appearance"] = float(self.appearance.normalised(appearance_contrast_vector(evidence))[0])
        scores.update(zip(STAT_NAMES, self.stat_excess(evidence.stats).tolist(), strict=True))
        return scores

    def check(self, evidence: Evidence) -> GateVerdict:
        """Accept or reject one image; the reason names the strongest cause in clinical language."""
        modality = evidence.meta.get("modality")
        if modality and modality not in RADIOGRAPHY_MODALITIES:
            return GateVerdict(False, 99.0, REASONS["modality"].format(modality=modality), "modality")
        scores = self.components(evidence)
        score = max(scores.values())
        if score <= 1.0:
            return GateVerdict(True, score, scores=scores)
        # The reason given is the most concrete one that fired, not necessarily the largest score.
        component = next(name for name in _REASON_PRIORITY if scores.get(name, 0.0) > 1.0)
        key = (
            "document"
            if component in _DOCUMENT_STATS
            else "deep"
            if component in ("layout", "contrast", "appearance")
            else component
        )
        return GateVerdict(False, score, REASONS[key], component, scores)


if __name__ == "__main__":
    # The measuring CLI lives with the fitting code (importing it here would make gate <-> gate_fit a cycle).
    raise SystemExit("usage: python -m mlcore gate [--evaluate] [--collect DIR] [BUNDLE]")
