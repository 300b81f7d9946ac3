"""Reading and verifying a model bundle without TensorFlow (the web process and worker start-up use it)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from mlcore.config import default_bundle_dir
from mlcore.errors import BundleError


def resolve_bundle_dir(path: str | Path | None = None) -> Path:
    """The bundle folder: the given path, or the shipped default named by models/CURRENT."""
    try:
        return Path(path) if path else default_bundle_dir()
    except FileNotFoundError as exc:
        raise BundleError(f"No model bundle: {exc.filename} is missing") from exc


def file_sha256(path: Path) -> str:
    """Hex sha256 of a file, streamed."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def read_metadata(bundle_dir: Path) -> dict[str, Any]:
    """The bundle's metadata.json, or BundleError saying what is wrong."""
    meta_path = bundle_dir / "metadata.json"
    if not meta_path.is_file():
        raise BundleError(f"Model bundle {bundle_dir.name}: metadata.json is missing")
    try:
        return json.loads(meta_path.read_text())
    except (OSError, ValueError) as exc:
        raise BundleError(f"Model bundle {bundle_dir.name}: metadata.json is unreadable ({exc})") from exc


def verify_bundle(path: str | Path | None = None) -> dict[str, Any]:
    """Check the weights exist and match the recorded sha256; return the metadata."""
    bundle_dir = resolve_bundle_dir(path)
    metadata = read_metadata(bundle_dir)
    weights = bundle_dir / "model.keras"
    if not weights.is_file():
        raise BundleError(f"Model bundle {bundle_dir.name}: model.keras is missing")
    actual = file_sha256(weights)
    if actual != metadata.get("sha256"):
        raise BundleError(
            f"Model bundle {bundle_dir.name}: sha256 mismatch for model.keras "
            f"(expected {metadata.get('sha256')}, found {actual})"
        )
    return metadata
