"""The model page: the served bundle's card, metrics and plots, and its report files."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from django.urls import reverse

from tests.diagnosis.factories import png_bytes
from tests.fixtures.pages import assert_no_inline_code, client_for, html

pytestmark = pytest.mark.django_db


@pytest.fixture
def bundle(tmp_path: Path, settings: Any) -> Path:
    """A small stand-in bundle with a card (including hostile HTML) and one report plot."""
    (tmp_path / "report").mkdir()
    (tmp_path / "metadata.json").write_text(
        json.dumps(
            {
                "version": "cnn-test-7",
                "previous_version": "cnn-test-6",
                "changes": ["Heatmaps on a 20x20 map <b>not</b> 3x3"],
                "sha256": "0" * 64,
                "threshold": 0.42,
                "indeterminate_band": [0.4, 0.45],
                "metrics": {"roc_auc": {"value": 0.9312345, "ci_low": 0.9, "ci_high": 0.95}, "ece": 0.01},
            }
        )
    )
    (tmp_path / "MODEL_CARD.md").write_text(
        "# Card\n\n| a | b |\n|---|---|\n| 1 | 2 |\n\n<script>alert(1)</script>\n"
    )
    (tmp_path / "report" / "roc_curve.png").write_bytes(png_bytes())
    (tmp_path / "secret.txt").write_text("outside the report folder")
    settings.AIRSPACE_MODEL_BUNDLE = str(tmp_path)
    return tmp_path


def test_model_page_renders_the_card_safely_with_metrics_and_plots(bundle: Path, carol: Any) -> None:
    client = client_for(carol)
    body = html(client.get(reverse("model-card")))
    assert "cnn-test-7" in body and "0.4200" in body and "0.4000 – 0.4500" in body
    assert (
        re.search(r"roc auc</th><td>0.931</td><td>0.900 – 0.950</td>", body) and "ece</th><td>0.010" in body
    )
    assert "<table>" in body and "&lt;script&gt;" in body
    # What changed since the previous version, from metadata (escaped like everything else).
    assert "What changed since cnn-test-6" in body and "<dd>cnn-test-6</dd>" in body
    assert "<li>Heatmaps on a 20x20 map &lt;b&gt;not&lt;/b&gt; 3x3</li>" in body
    assert_no_inline_code(body)
    url = reverse("model-report-file", args=["roc_curve.png"])
    assert url in body
    plot = client.get(url)
    assert plot.status_code == 200 and plot["Content-Type"] == "image/png"
    assert b"".join(plot.streaming_content) == png_bytes()


@pytest.mark.parametrize("name", ["..%2Fsecret.txt", "secret.txt", "missing.png", ".hidden.png", "x.html"])
def test_model_report_files_cannot_escape_the_report_folder(bundle: Path, carol: Any, name: str) -> None:
    response = client_for(carol).get(f"/model/report/{name}")
    assert response.status_code == 404


def test_model_page_is_refused_to_a_user_without_a_role(bundle: Path, nobody: Any) -> None:
    client = client_for(nobody)
    assert client.get(reverse("model-card")).status_code == 403
    assert client.get(reverse("model-report-file", args=["roc_curve.png"])).status_code == 403
