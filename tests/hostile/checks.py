"""Invariants every hostile upload must leave intact: no orphan files, no rows without files, no traces."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from diagnosis.models import Image, Prediction


def stored_files(settings: Any) -> set[str]:
    """Every file under MEDIA_ROOT, as storage names relative to it."""
    root = Path(settings.MEDIA_ROOT)
    return (
        {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()} if root.exists() else set()
    )


def assert_media_matches_rows(settings: Any) -> None:
    """Files on disk are exactly the Image files plus the heatmaps: nothing orphaned, nothing missing."""
    rows = set(Image.objects.values_list("file", flat=True))
    rows |= set(Prediction.objects.exclude(heatmap="").values_list("heatmap", flat=True))
    assert stored_files(settings) == rows


def assert_clean_error(response: Any, status: int, code: str | None = None) -> dict[str, Any]:
    """A 4xx with the JSON error body, a message a person can read, and no stack trace."""
    assert response.status_code == status, response.content[:500]
    assert response["Content-Type"].startswith("application/json")
    assert b"Traceback" not in response.content and b'File "/' not in response.content
    error = response.json()["error"]
    assert set(error) == {"code", "message", "fields"} and len(error["message"]) > 10
    if code is not None:
        assert error["code"] == code, error
    return error
