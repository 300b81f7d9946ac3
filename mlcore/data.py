"""Labelled chest X-ray folders: file discovery, patient ids, the patient-level split and in-memory arrays."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mlcore.bundle import file_sha256
from mlcore.config import CLASS_NAMES, INPUT_SIZE, SEED
from mlcore.preprocessing import load_model_input

IMAGE_SUFFIXES = (".jpeg", ".jpg", ".png", ".bmp", ".tif", ".tiff")
SPLIT_NAMES = ("train", "val", "test")
_PERSON = re.compile(r"^(person\d+)_", re.IGNORECASE)
_NORMAL_IM = re.compile(r"^((?:NORMAL2-)?IM-\d+)", re.IGNORECASE)


@dataclass(frozen=True)
class ImageRecord:
    """One labelled image file: its path, class index (1 = PNEUMONIA), patient and official split."""

    path: Path
    label: int
    patient_id: str
    split: str = ""

    @property
    def subtype(self) -> str:
        """The pneumonia type carried by the file name (bacteria / virus), or 'normal'."""
        name = self.path.name.lower()
        return next((kind for kind in ("bacteria", "virus") if kind in name), "normal")


def patient_id_from_name(filename: str) -> str:
    """The patient a Kermany file name belongs to (`person1000_virus_1.jpeg` -> `person1000`)."""
    stem = Path(filename).stem
    for pattern in (_PERSON, _NORMAL_IM):
        match = pattern.match(stem)
        if match:
            return match.group(1)
    # Unknown naming: every file is its own patient (the conservative choice for splitting).
    return stem


def _class_records(class_dir: Path, label: int, split: str) -> list[ImageRecord]:
    """The image records inside one class folder."""
    return [
        ImageRecord(path=p, label=label, patient_id=patient_id_from_name(p.name), split=split)
        for p in sorted(class_dir.iterdir())
        if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES
    ]


def scan_folder(root: str | Path, splits: Sequence[str] | None = None) -> list[ImageRecord]:
    """All labelled images under a Kaggle-like folder (`root/{NORMAL,PNEUMONIA}` or `root/<split>/<class>`)."""
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"data folder not found: {root}")
    split_dirs = [(root, "")] if (root / CLASS_NAMES[0]).is_dir() or (root / CLASS_NAMES[1]).is_dir() else []
    if not split_dirs:
        wanted = splits or SPLIT_NAMES
        split_dirs = [(root / s, s) for s in wanted if (root / s).is_dir()]
    records = [
        record
        for folder, split in split_dirs
        for label, name in enumerate(CLASS_NAMES)
        if (folder / name).is_dir()
        for record in _class_records(folder / name, label, split)
    ]
    if not records:
        raise FileNotFoundError(f"no NORMAL/PNEUMONIA images under {root}")
    return records


def split_by_patient(
    records: Sequence[ImageRecord], val_fraction: float = 0.18, seed: int = SEED
) -> tuple[list[ImageRecord], list[ImageRecord]]:
    """A class-stratified train/validation split in which no patient is on both sides."""
    patient_label: dict[str, int] = {}
    for record in records:
        # A patient with any pneumonia image counts as a pneumonia patient for stratification.
        patient_label[record.patient_id] = max(patient_label.get(record.patient_id, 0), record.label)
    rng = np.random.default_rng(seed)
    val_patients: set[str] = set()
    for label in range(len(CLASS_NAMES)):
        patients = sorted(p for p, lab in patient_label.items() if lab == label)
        rng.shuffle(patients)
        val_patients.update(patients[: int(round(len(patients) * val_fraction))])
    train = [r for r in records if r.patient_id not in val_patients]
    val = [r for r in records if r.patient_id in val_patients]
    return train, val


def class_weights(labels: np.ndarray) -> dict[int, float]:
    """Balanced class weights n / (k * n_c) from the label counts (never hand-set)."""
    counts = np.bincount(np.asarray(labels, dtype=int), minlength=len(CLASS_NAMES))
    total = counts.sum()
    return {c: float(total / (len(counts) * n)) if n else 0.0 for c, n in enumerate(counts)}


def manifest_sha256(records: Sequence[ImageRecord], root: str | Path) -> str:
    """One hash over the sorted (relative path, label, file sha256) rows: the data's identity."""
    root = Path(root)
    rows = sorted(
        f"{r.path.relative_to(root).as_posix()},{CLASS_NAMES[r.label]},{file_sha256(r.path)}" for r in records
    )
    return hashlib.sha256("\n".join(rows).encode()).hexdigest()


def load_images(records: Sequence[ImageRecord], size: int = INPUT_SIZE, progress: bool = False) -> np.ndarray:
    """Every record through the one preprocessing path, stacked as uint8 (N, size, size, 1)."""
    images = np.empty((len(records), size, size, 1), dtype=np.uint8)
    iterator = records
    if progress:
        from tqdm import tqdm

        iterator = tqdm(records, desc="loading images", unit="img")
    for i, record in enumerate(iterator):
        # to_model_input returns float32 0..255 integers after a uint8 resize, so uint8 storage is lossless.
        images[i] = load_model_input(str(record.path), size).astype(np.uint8)
    return images


def labels_of(records: Sequence[ImageRecord]) -> np.ndarray:
    """The records' class indices as an int array."""
    return np.array([r.label for r in records], dtype=np.int64)


def load_cached(
    records: Sequence[ImageRecord], cache_dir: Path | None, key: str, progress: bool = False
) -> np.ndarray:
    """load_images, memoised on disk under `cache_dir/<key>.npy` (key = manifest hash)."""
    if cache_dir is None:
        return load_images(records, progress=progress)
    cache = Path(cache_dir) / f"images-{key[:16]}-{len(records)}.npy"
    if cache.exists():
        return np.load(cache)
    images = load_images(records, progress=progress)
    cache.parent.mkdir(parents=True, exist_ok=True)
    np.save(cache, images)
    return images
