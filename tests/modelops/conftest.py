"""Fixtures of the model lifecycle tests."""

from __future__ import annotations

import pytest


@pytest.fixture
def candidate_bundle(tmp_path, settings):
    """AIRSPACE_MODELS_DIR holding the served bundle and one other: the shipped weights under another
    version (links, no copies)."""
    import json
    import os

    from mlcore.bundle import resolve_bundle_dir

    served = resolve_bundle_dir()
    folder = tmp_path / "models" / "cand-2"
    folder.mkdir(parents=True)
    os.symlink(served.resolve(), folder.parent / served.name)
    for path in served.iterdir():
        if path.is_file() and path.name not in ("metadata.json", "serving.json"):
            os.symlink(path.resolve(), folder / path.name)
    for name, key in (("metadata.json", "version"), ("serving.json", "bundle_version")):
        data = json.loads((served / name).read_text())
        data[key] = "airspace-cnn-cand-2"
        (folder / name).write_text(json.dumps(data))
    settings.AIRSPACE_MODELS_DIR = str(folder.parent)
    return folder.name
