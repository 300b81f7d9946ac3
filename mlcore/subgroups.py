"""Subgroup figures for one evaluation: pneumonia type, original image size and aspect, exposure quartile.

Subgroups are small (a site sample of 150 images splits into groups of 10-60), so every proportion carries
a Wilson 95% interval and every row its counts: a reader sees at once which differences are noise.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
from PIL import Image

from mlcore import metrics
from mlcore.data import ImageRecord

# Long side of the original file, cut near the site sample's terciles (the 224 copies all fall in the first).
SIZE_BUCKETS = ((0, 1100, "< 1100 px"), (1100, 1600, "1100–1599 px"), (1600, 10**9, ">= 1600 px"))
# Width / height of the original file (site sample median 1.43): squarer, typical and wide films.
ASPECT_BUCKETS = ((0.0, 1.3, "< 1.30"), (1.3, 1.55, "1.30–1.54"), (1.55, 100.0, ">= 1.55"))


def wilson(successes: int, n: int, z: float = 1.96) -> tuple[float, float] | None:
    """Wilson score 95% interval of a proportion (None when n = 0)."""
    if n == 0:
        return None
    phat = successes / n
    centre = (phat + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(phat * (1 - phat) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


def _bucket(value: float, buckets: Sequence[tuple[float, float, str]]) -> str:
    """The label of the bucket [low, high) holding value."""
    return next(label for low, high, label in buckets if low <= value < high)


def record_attributes(records: Sequence[ImageRecord], exposures: Sequence[float]) -> list[dict[str, str]]:
    """Per image: pneumonia type, size and aspect bucket of the original file, exposure quartile.

    Exposure is the mean grey level of the model input; its quartiles are taken within this set.
    """
    edges = np.quantile(np.asarray(exposures, dtype=np.float64), [0.25, 0.5, 0.75])
    rows = []
    for record, exposure in zip(records, exposures, strict=True):
        with Image.open(record.path) as image:
            width, height = image.size  # header only: no pixel decode
        quartile = int(np.searchsorted(edges, exposure, side="right")) + 1
        rows.append(
            {
                "type": record.subtype,
                "size": _bucket(max(width, height), SIZE_BUCKETS),
                "aspect": _bucket(width / height, ASPECT_BUCKETS),
                "exposure": f"Q{quartile} ({'darkest' if quartile == 1 else 'brightest' if quartile == 4 else 'mid'})",
            }
        )
    return rows


def _group_row(factor: str, level: str, y: np.ndarray, p: np.ndarray, threshold: float) -> dict[str, Any]:
    """Counts, sensitivity and specificity (Wilson CIs) and ROC AUC (when both classes) of one group."""
    predicted = p >= threshold
    pos, neg = int(y.sum()), int((1 - y).sum())
    tp, tn = int((predicted & (y == 1)).sum()), int((~predicted & (y == 0)).sum())
    # An undefined figure (no image of that class in the group) is None: metadata.json stays valid JSON.
    return {
        "factor": factor,
        "level": level,
        "n": int(y.size),
        "normal": neg,
        "pneumonia": pos,
        "sensitivity": {"value": tp / pos if pos else None, "ci": wilson(tp, pos)},
        "specificity": {"value": tn / neg if neg else None, "ci": wilson(tn, neg)},
        "roc_auc": metrics.roc_auc(y, p) if pos and neg else None,
    }


def subgroup_table(
    y: np.ndarray, p: np.ndarray, threshold: float, attributes: Sequence[dict[str, str]]
) -> list[dict[str, Any]]:
    """One row per (factor, level) present, in factor order then level order."""
    # Buckets in their defined order (smallest first), other factors alphabetically.
    order = {label: i for i, (_, _, label) in enumerate((*SIZE_BUCKETS, *ASPECT_BUCKETS))}
    rows = []
    for factor in ("type", "size", "aspect", "exposure"):
        levels = np.array([a[factor] for a in attributes])
        for level in sorted(set(levels), key=lambda v: (order.get(v, 0), v)):
            mask = levels == level
            rows.append(_group_row(factor, str(level), y[mask], p[mask], threshold))
    return rows


def _cell(entry: dict[str, Any]) -> str:
    """`0.912 (0.80–0.97)`, or `–` for an empty class."""
    if entry["value"] is None:
        return "–"
    return f"{entry['value']:.3f} ({entry['ci'][0]:.2f}–{entry['ci'][1]:.2f})"


def subgroup_markdown(rows: Sequence[dict[str, Any]]) -> str:
    """The subgroup table as markdown."""
    lines = [
        "| factor | level | n | NORMAL | PNEUMONIA | sensitivity (Wilson 95% CI) | specificity (Wilson 95% CI) | ROC AUC |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in rows:
        auc = "–" if r["roc_auc"] is None else f"{r['roc_auc']:.3f}"
        lines.append(
            f"| {r['factor']} | {r['level']} | {r['n']} | {r['normal']} | {r['pneumonia']} | "
            f"{_cell(r['sensitivity'])} | {_cell(r['specificity'])} | {auc} |"
        )
    return "\n".join(lines) + "\n"
