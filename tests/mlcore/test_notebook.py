"""The exploration notebook runs top to bottom on a small subset (the committed fixture X-rays, ~5-15 s)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def test_explore_notebook_executes(monkeypatch: pytest.MonkeyPatch) -> None:
    import nbformat
    from nbclient import NotebookClient

    fixtures = ROOT / "tests" / "fixtures" / "xrays"
    if not fixtures.is_dir() or not (ROOT / "models" / "CURRENT").exists():
        pytest.skip("needs tests/fixtures/xrays and a shipped bundle (models/CURRENT)")
    monkeypatch.setenv("AIRSPACE_NB_DATA", os.environ.get("AIRSPACE_NB_DATA", str(fixtures)))
    monkeypatch.setenv("AIRSPACE_NB_SUBSET", "16")
    notebook = nbformat.read(ROOT / "notebooks" / "explore.ipynb", as_version=4)
    NotebookClient(
        notebook, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(ROOT)}}
    ).execute()
    outputs = [o for cell in notebook.cells if cell.cell_type == "code" for o in cell.get("outputs", [])]
    assert not [o for o in outputs if o.output_type == "error"]
    assert any("subset:" in o.get("text", "") for o in outputs)
