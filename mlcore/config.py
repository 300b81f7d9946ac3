"""Paths and constants, anchored at the project root (never the working directory)."""

from __future__ import annotations

from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
MODELS_DIR = PROJECT_ROOT / "models"
# `models/CURRENT` names the bundle folder the portal serves by default.
CURRENT_POINTER = MODELS_DIR / "CURRENT"
# An environment variable naming a bundle folder overrides CURRENT (mlcore.bundle.resolve_bundle_dir).
BUNDLE_ENV = "AIRSPACE_MODEL_BUNDLE"
SHARED_DATA_DIR = PROJECT_ROOT.parent / "shared" / "data"

INPUT_SIZE = 224
CLASS_NAMES = ("NORMAL", "PNEUMONIA")
SEED = 1337


def default_bundle_dir() -> Path:
    """The shipped bundle named by models/CURRENT."""
    return MODELS_DIR / CURRENT_POINTER.read_text().strip()
