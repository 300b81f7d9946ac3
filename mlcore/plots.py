"""Evaluation figures as PNG files (matplotlib, Agg backend, no display)."""

from __future__ import annotations

import csv
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from mlcore import metrics


def _figure(width: float = 4.5, height: float = 4.0) -> tuple[Any, Any]:
    """A fresh figure and axes on the Agg backend."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt.subplots(figsize=(width, height))


def _save(fig: Any, path: Path) -> Path:
    """Write and close a figure."""
    import matplotlib.pyplot as plt

    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def roc_plot(y: np.ndarray, p: np.ndarray, threshold: float, path: Path) -> Path:
    """ROC curve with the operating point marked."""
    fpr, tpr, _ = metrics.roc_curve(y, p)
    fig, ax = _figure()
    ax.plot(fpr, tpr, label=f"AUC {metrics.roc_auc(y, p):.3f}")
    op = metrics.point_metrics(y, p, threshold)
    ax.plot(1 - op["specificity"], op["sensitivity"], "o", color="crimson", label="operating point")
    ax.plot([0, 1], [0, 1], ":", color="grey")
    ax.set(xlabel="1 - specificity", ylabel="sensitivity", title="ROC")
    ax.legend(loc="lower right")
    return _save(fig, path)


def pr_plot(y: np.ndarray, p: np.ndarray, path: Path) -> Path:
    """Precision-recall curve (positive = PNEUMONIA)."""
    order = np.argsort(-p, kind="mergesort")
    hits = (y[order] == 1).astype(float)
    recall = np.cumsum(hits) / max(hits.sum(), 1)
    precision = np.cumsum(hits) / np.arange(1, hits.size + 1)
    fig, ax = _figure()
    ax.plot(recall, precision, label=f"AP {metrics.pr_auc(y, p):.3f}")
    ax.set(xlabel="recall (sensitivity)", ylabel="precision (PPV)", title="Precision-recall", ylim=(0, 1.02))
    ax.legend(loc="lower left")
    return _save(fig, path)


def confusion_plot(y: np.ndarray, p: np.ndarray, threshold: float, path: Path) -> Path:
    """2x2 confusion matrix at the operating point."""
    c = metrics.confusion(y, (p >= threshold).astype(int))
    grid = np.array([[c["tn"], c["fp"]], [c["fn"], c["tp"]]])
    fig, ax = _figure(4, 3.6)
    ax.imshow(grid, cmap="Blues")
    for (i, j), v in np.ndenumerate(grid):
        ax.text(j, i, str(v), ha="center", va="center", color="black", fontsize=13)
    ax.set(
        xticks=[0, 1], yticks=[0, 1], xticklabels=["NORMAL", "PNEUMONIA"], yticklabels=["NORMAL", "PNEUMONIA"]
    )
    ax.set(xlabel="predicted", ylabel="true", title=f"Confusion at p >= {threshold:.3f}")
    return _save(fig, path)


def reliability_plot(y: np.ndarray, p: np.ndarray, path: Path, bins: int = 10) -> Path:
    """Reliability diagram: observed pneumonia rate per equal-width probability bin."""
    index = np.minimum((p * bins).astype(int), bins - 1)
    centres = (np.arange(bins) + 0.5) / bins
    observed = [y[index == b].mean() if (index == b).any() else np.nan for b in range(bins)]
    fig, ax = _figure()
    ax.bar(centres, observed, width=1 / bins, edgecolor="black", alpha=0.7, label="observed")
    ax.plot([0, 1], [0, 1], ":", color="grey", label="perfect")
    ece = metrics.expected_calibration_error(y, p, bins)
    ax.set(
        xlabel="calibrated P(pneumonia)", ylabel="fraction pneumonia", title=f"Reliability (ECE {ece:.3f})"
    )
    ax.legend(loc="upper left")
    return _save(fig, path)


def score_histogram_plot(
    y: np.ndarray, p: np.ndarray, band: Sequence[float], threshold: float, path: Path
) -> Path:
    """Per-class histograms of the calibrated probability, threshold and indeterminate band marked."""
    fig, ax = _figure(5.5, 3.8)
    edges = np.linspace(0, 1, 26)
    ax.hist(p[y == 0], bins=edges, alpha=0.6, label="NORMAL")
    ax.hist(p[y == 1], bins=edges, alpha=0.6, label="PNEUMONIA")
    ax.axvspan(band[0], band[1], color="orange", alpha=0.15, label="indeterminate")
    ax.axvline(threshold, color="crimson", label="threshold")
    ax.set(xlabel="calibrated P(pneumonia)", ylabel="images", yscale="log", title="Scores by class")
    ax.legend()
    return _save(fig, path)


def training_curves_plot(history_csv: Path, path: Path) -> Path | None:
    """Loss and AUC per epoch from a Keras CSVLogger file."""
    if not history_csv.exists():
        return None
    with open(history_csv) as handle:
        rows = list(csv.DictReader(handle))
    if not rows:
        return None
    epochs = [int(r["epoch"]) + 1 for r in rows]
    import matplotlib.pyplot as plt

    fig, (a1, a2) = plt.subplots(1, 2, figsize=(9, 3.6))
    for key in ("loss", "val_loss"):
        a1.plot(epochs, [float(r[key]) for r in rows], label=key)
    for key in ("auc", "val_auc"):
        a2.plot(epochs, [float(r[key]) for r in rows], label=key)
    a1.set(xlabel="epoch", title="loss")
    a2.set(xlabel="epoch", title="ROC AUC")
    a1.legend()
    a2.legend()
    return _save(fig, path)


def distribution_plot(labels: Sequence[int], patients: Sequence[str], path: Path) -> Path:
    """Class counts and the number of images per patient."""
    import matplotlib.pyplot as plt

    fig, (a1, a2) = plt.subplots(1, 2, figsize=(9, 3.6))
    counts = np.bincount(np.asarray(labels), minlength=2)
    a1.bar(["NORMAL", "PNEUMONIA"], counts, color=["tab:blue", "tab:orange"])
    a1.set(title=f"Images per class (n={len(labels)})")
    per_patient = list(Counter(patients).values())
    a2.hist(per_patient, bins=np.arange(1, max(per_patient) + 2) - 0.5)
    a2.set(title=f"Images per patient ({len(per_patient)} patients)", xlabel="images", yscale="log")
    return _save(fig, path)
