"""Preprocessing parity: a full-resolution upload through to_model_input matches what training saw."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from mlcore.config import SHARED_DATA_DIR
from mlcore.preprocessing import load_model_input, to_model_input

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "xrays"


def _training_copy(original: Image.Image) -> np.ndarray:
    """The shared README's recipe for the 224 copies: RGB, squash-resize, JPEG at quality 75."""
    buffer = io.BytesIO()
    original.convert("RGB").resize((224, 224)).save(buffer, format="JPEG")
    return np.asarray(Image.open(buffer).convert("L"), dtype=np.float32)


def _corr(a: np.ndarray, b: np.ndarray) -> float:
    """Pearson correlation of two arrays' pixels."""
    return float(np.corrcoef(a.ravel(), b.ravel())[0, 1])


def test_parity_on_synthetic_full_resolution_image() -> None:
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:1400, 0:1100]
    smooth = 128 + 80 * np.sin(xx / 90.0) * np.cos(yy / 130.0) + rng.normal(0, 6, xx.shape)
    original = Image.fromarray(np.clip(smooth, 0, 255).astype(np.uint8), mode="L")
    ours = to_model_input(original)[..., 0]
    assert ours.shape == (224, 224)
    assert _corr(ours, _training_copy(original)) >= 0.99
    # An RGB upload of the same film gives the same input as the grayscale one.
    np.testing.assert_allclose(to_model_input(original.convert("RGB"))[..., 0], ours, atol=1.0)


def test_parity_on_committed_fixture_xrays() -> None:
    paths = sorted(FIXTURES.glob("*/*.jp*g"))[:8]
    if not paths:
        pytest.skip(f"no fixture X-rays under {FIXTURES}")
    for path in paths:
        with Image.open(path) as image:
            image.load()
            expected = _training_copy(image)
        assert _corr(load_model_input(str(path))[..., 0], expected) >= 0.99, path.name


def test_parity_with_shared_224_copies() -> None:
    originals = sorted((SHARED_DATA_DIR / "originals" / "train").glob("*/*.jpeg"))[::10]
    if not originals:
        pytest.skip(
            f"shared data not available at {SHARED_DATA_DIR}: parity with the stored copies not checked"
        )
    for path in originals:
        stored = SHARED_DATA_DIR / "chest_xray_224" / "train" / path.parent.name / path.name
        ours = load_model_input(str(path))[..., 0]
        copy = np.asarray(Image.open(stored).convert("L"), dtype=np.float32)
        assert _corr(ours, copy) >= 0.99, path.name
