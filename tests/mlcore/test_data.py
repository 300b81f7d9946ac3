"""mlcore.data: folder scanning, patient ids, the patient-level split, class weights and the tf.data pipeline."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from mlcore import data
from tests.mlcore.synthetic import make_folder

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    ("name", "patient"),
    [
        ("person1000_bacteria_2931.jpeg", "person1000"),
        ("person1000_virus_1681.jpeg", "person1000"),
        ("IM-0629-0001-0002.jpeg", "IM-0629"),
        ("IM-0115-0001.jpeg", "IM-0115"),
        ("NORMAL2-IM-1427-0001.jpeg", "NORMAL2-IM-1427"),
        ("scan.png", "scan"),
    ],
)
def test_patient_id_from_name(name: str, patient: str) -> None:
    assert data.patient_id_from_name(name) == patient


def test_scan_folder_flat_and_split_layouts(tmp_path: Path) -> None:
    make_folder(tmp_path / "flat", per_class=3)
    make_folder(tmp_path / "kaggle" / "train", per_class=2)
    make_folder(tmp_path / "kaggle" / "val", per_class=1)
    flat = data.scan_folder(tmp_path / "flat")
    assert [r.label for r in flat] == [0, 0, 0, 1, 1, 1]
    nested = data.scan_folder(tmp_path / "kaggle")
    assert sorted({r.split for r in nested}) == ["train", "val"]
    assert len(data.scan_folder(tmp_path / "kaggle", splits=["val"])) == 2
    with pytest.raises(FileNotFoundError):
        data.scan_folder(tmp_path / "missing")


def _records(n_patients: int) -> list[data.ImageRecord]:
    """Fake records: patients with 1-3 images; a third are NORMAL."""
    rng = np.random.default_rng(1)
    records = []
    for p in range(n_patients):
        label = int(p % 3 != 0)
        records += [
            data.ImageRecord(Path(f"p{p}_{i}.jpeg"), label, f"p{p}") for i in range(rng.integers(1, 4))
        ]
    return records


def test_split_by_patient_has_no_shared_patient_and_is_stratified() -> None:
    records = _records(300)
    train, val = data.split_by_patient(records, val_fraction=0.2, seed=7)
    assert not {r.patient_id for r in train} & {r.patient_id for r in val}
    assert len(train) + len(val) == len(records)
    for label, n_patients in ((0, 100), (1, 200)):
        val_patients = {r.patient_id for r in val if r.label == label}
        assert len(val_patients) == round(0.2 * n_patients)
    again = data.split_by_patient(records, val_fraction=0.2, seed=7)[1]
    assert [r.path for r in again] == [r.path for r in val]
    other = data.split_by_patient(records, val_fraction=0.2, seed=8)[1]
    assert {r.patient_id for r in other} != {r.patient_id for r in val}


def test_class_weights_are_balanced_from_counts() -> None:
    weights = data.class_weights(np.array([0, 1, 1, 1]))
    assert weights == pytest.approx({0: 2.0, 1: 2.0 / 3.0})


def test_manifest_hash_tracks_content(tmp_path: Path) -> None:
    root = make_folder(tmp_path, per_class=2)
    records = data.scan_folder(root)
    first = data.manifest_sha256(records, root)
    assert first == data.manifest_sha256(records, root)
    records[0].path.write_bytes(records[0].path.read_bytes() + b"\0")
    assert data.manifest_sha256(records, root) != first


def test_load_images_uses_the_model_input_path(tmp_path: Path) -> None:
    root = make_folder(tmp_path, per_class=2, size=300)
    images = data.load_images(data.scan_folder(root))
    assert images.shape == (4, 224, 224, 1) and images.dtype == np.uint8


def test_augmented_pipeline_is_seeded_and_keeps_range() -> None:
    from mlcore.augment import make_dataset

    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (16, 224, 224, 1), dtype=np.uint8)
    labels = np.array([0, 1] * 8)
    kwargs = {"batch_size": 8, "training": True, "seed": 3, "class_weight": {0: 2.0, 1: 0.5}}
    x1, y1, w1 = next(iter(make_dataset(images, labels, **kwargs)))
    x2, _, _ = next(iter(make_dataset(images, labels, **kwargs)))
    np.testing.assert_array_equal(x1.numpy(), x2.numpy())
    assert x1.shape == (8, 224, 224, 1) and 0.0 <= float(x1.numpy().min()) <= float(x1.numpy().max()) <= 255.0
    assert set(np.round(w1.numpy(), 3)) <= {2.0, 0.5}
    assert set(y1.numpy().ravel()) <= {0.0, 1.0}


def test_importing_mlcore_data_does_not_import_tensorflow() -> None:
    code = "import sys, mlcore, mlcore.preprocessing, mlcore.data, mlcore.metrics, mlcore.calibration; "
    code += "assert 'tensorflow' not in sys.modules and 'keras' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True)


def _bar_widths(labels: list[float], cfg: dict[str, float], seed: int = 5) -> tuple[np.ndarray, np.ndarray]:
    """Width of a central vertical bar and height of a central horizontal bar after augmentation."""
    import tensorflow as tf

    from mlcore.augment import augment_batch

    still = {"rotation_deg": 0, "shift": 0, "zoom": 0, "aspect": 0, "noise_std": 0, "blur_prob": 0}
    still |= {"gamma": 0, "contrast": 0, "brightness": 0}
    x = np.zeros((len(labels), 224, 224, 1), np.float32)
    x[:, :, 100:124] = 255.0  # a bar 24 px wide
    x[:, 100:124, :] = 255.0  # and one 24 px high
    y = tf.constant(np.array(labels, np.float32)[:, None])
    out = augment_batch(tf.constant(x), tf.constant([seed, 11]), {**still, **cfg}, labels=y).numpy()
    return (out[:, 40, :, 0] > 128).sum(axis=1), (out[:, :, 40, 0] > 128).sum(axis=1)


def test_framing_balancing_zooms_only_normal_films_in() -> None:
    labels = [0.0] * 8 + [1.0] * 8
    widths, heights = _bar_widths(labels, {"zoom_normal_max": 1.45})
    normal, pneumonia = widths[:8], widths[8:]
    assert (pneumonia == 24).all()  # no zoom for pneumonia films
    assert (normal >= 24).all() and normal.max() > 26 and normal.max() <= round(24 * 1.45) + 1
    assert (heights[:8] >= 24).all()  # zoom, not stretch: both axes magnified
    off, _ = _bar_widths(labels, {})
    assert (off == 24).all()


def test_aspect_balancing_stretches_by_class_and_crop_only_never_shrinks() -> None:
    cfg = {"aspect_normal": 1.24, "aspect_pneumonia": 1.43, "aspect_low": 1.05, "aspect_high": 1.75}
    labels = [0.0] * 8 + [1.0] * 8
    widths, heights = _bar_widths(labels, cfg)
    ratio = widths / heights  # the anatomy's width/height, 1 before augmentation
    assert ratio.min() < 0.95 and ratio.max() > 1.05
    # A stretch of own / virtual aspect, virtual in [1.05, 1.75]:
    assert ratio[:8].min() >= 1.24 / 1.75 - 0.1 and ratio[:8].max() <= 1.24 / 1.05 + 0.1
    widths, heights = _bar_widths(labels, {**cfg, "aspect_crop_only": 1.0})
    assert (widths >= 23).all() and (heights >= 23).all()  # a crop: no axis shrinks, so no filled edges
    assert (widths / heights).min() < 0.95 and (widths / heights).max() > 1.05
