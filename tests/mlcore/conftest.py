"""Shared fixtures for the serving tests: a tiny exported bundle and the shipped predictor, loaded once."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import pytest

PROJECT_ROOT = Path(__file__).resolve().parents[2]
# `tests.fixtures` is imported by module path; make the project root importable however pytest is run.
if str(PROJECT_ROOT) not in sys.path:
    sys.path.insert(0, str(PROJECT_ROOT))

from mlcore.config import SHARED_DATA_DIR  # noqa: E402
from tests.fixtures.bundles import shipped_bundle  # noqa: E402


def build_tiny_model() -> object:
    """A random-weights model honouring the serving contract (last_conv → gap → logit)."""
    import keras
    from keras import layers

    keras.utils.set_random_seed(0)
    inputs = keras.Input((224, 224, 1), name="image")
    x = layers.Rescaling(1 / 255.0)(inputs)
    x = layers.Conv2D(8, 8, strides=8, activation="relu")(x)
    x = layers.Conv2D(16, 4, strides=4, name="last_conv_conv")(x)
    x = layers.ReLU(name="last_conv")(x)
    x = layers.GlobalAveragePooling2D(name="gap")(x)
    x = layers.Dropout(0.1)(x)
    return keras.Model(inputs, layers.Dense(1, name="logit")(x))


@pytest.fixture(scope="session")
def tiny_bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A complete, exported bundle around the tiny model (gate fitted on the fixture X-rays)."""
    from mlcore.bundle import file_sha256
    from mlcore.export import export_bundle

    bundle = tmp_path_factory.mktemp("bundles") / "tiny-0.0.1"
    bundle.mkdir()
    build_tiny_model().save(bundle / "model.keras")
    metadata = {
        "version": "0.0.1-tiny",
        "sha256": file_sha256(bundle / "model.keras"),
        "input_size": 224,
        "preprocessing": "gray-squash-bicubic-224-v1",
        "threshold": 0.5,
        "temperature": 1.5,
        "indeterminate_band": [0.4, 0.6],
    }
    (bundle / "metadata.json").write_text(json.dumps(metadata))
    export_bundle(bundle, evaluate_gate=False, use_shared=False)
    return bundle


@pytest.fixture
def bundle_copy(tiny_bundle: Path, tmp_path: Path) -> Path:
    """A throw-away copy of the tiny bundle that a test may damage."""
    return Path(shutil.copytree(tiny_bundle, tmp_path / tiny_bundle.name))


@pytest.fixture(scope="session")
def predictor(tiny_bundle: Path) -> object:
    """The shipped predictor (models/CURRENT), or the tiny one before any bundle has been exported."""
    from mlcore.inference import load_predictor

    loaded = load_predictor(shipped_bundle() or tiny_bundle)
    loaded.warm_up()
    return loaded


@pytest.fixture(scope="session")
def corpus() -> dict[str, tuple[str, bytes]]:
    """The hostile upload corpus (without the 50 MB file)."""
    from tests.fixtures.hostile import hostile_corpus

    return hostile_corpus()


@pytest.fixture
def shared_data() -> Path:
    """../shared/data, or skip: a fresh clone has no shared data."""
    if not (SHARED_DATA_DIR / "originals").is_dir():
        pytest.skip(f"shared data not found at {SHARED_DATA_DIR} (fresh clone): skipping shared-data test")
    return SHARED_DATA_DIR


@pytest.fixture(autouse=True)
def _clean_media() -> None:
    """Override the portal's autouse media cleaner: mlcore tests need neither Django nor media."""
