"""mlcore.subgroups: Wilson intervals and the subgroup table of an evaluation."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from mlcore.data import ImageRecord
from mlcore.subgroups import record_attributes, subgroup_markdown, subgroup_table, wilson


def test_wilson_interval_contains_the_proportion_and_stays_in_0_1() -> None:
    low, high = wilson(9, 10)
    assert 0.5 < low < 0.9 < high <= 1.0
    assert wilson(0, 5)[0] == 0.0 and wilson(5, 5)[1] == 1.0
    assert wilson(0, 0) is None


def _records(tmp_path: Path) -> list[ImageRecord]:
    """Four tiny files of different sizes: two normal, a bacterial and a viral pneumonia."""
    specs = [
        ("IM-0001-0001.jpeg", 0, (900, 800)),
        ("IM-0002-0001.jpeg", 0, (1700, 1000)),
        ("person1_bacteria_1.jpeg", 1, (1200, 1000)),
        ("person2_virus_2.jpeg", 1, (2000, 1200)),
    ]
    records = []
    for name, label, size in specs:
        Image.new("L", size, 128).save(tmp_path / name)
        records.append(ImageRecord(path=tmp_path / name, label=label, patient_id=name[:8]))
    return records


def test_subgroup_table_counts_and_rates(tmp_path: Path) -> None:
    records = _records(tmp_path)
    attributes = record_attributes(records, [10.0, 20.0, 30.0, 40.0])
    assert [a["type"] for a in attributes] == ["normal", "normal", "bacteria", "virus"]
    assert attributes[0]["size"] == "< 1100 px" and attributes[3]["size"] == ">= 1600 px"
    assert attributes[0]["exposure"].startswith("Q1") and attributes[3]["exposure"].startswith("Q4")
    y = np.array([0, 0, 1, 1])
    p = np.array([0.1, 0.9, 0.8, 0.2])
    rows = {(r["factor"], r["level"]): r for r in subgroup_table(y, p, 0.5, attributes)}
    normal = rows[("type", "normal")]
    assert normal["n"] == 2 and normal["specificity"]["value"] == pytest.approx(0.5)
    assert normal["sensitivity"]["value"] is None and normal["roc_auc"] is None
    json.dumps(list(rows.values()), allow_nan=False)  # metadata.json must stay valid JSON
    assert rows[("type", "bacteria")]["sensitivity"]["value"] == 1.0
    assert rows[("type", "virus")]["sensitivity"]["value"] == 0.0
    assert sum(r["n"] for (f, _), r in rows.items() if f == "exposure") == 4
    assert "| type | virus | 1 | 0 | 1 |" in subgroup_markdown(list(rows.values()))
