"""Copy the browser journeys' screenshots into docs/screenshots/ for the README, downscaled and palettised.

.venv/bin/python -m tests.e2e.publish_screenshots      # after the browser tests have run
"""

from __future__ import annotations

import os
from pathlib import Path

from PIL import Image

ROOT = Path(__file__).resolve().parents[2]
JOURNEYS = ("01-clinician-result", "02-radiologist-override", "03-admin-audit", "04-rejected")
# Issue #16 (tests/e2e/test_safety_browser.py): viewport shots, published narrower to stay small.
SAFETY = (
    "safety-01-before-read",
    "safety-02-after-override",
    "safety-03-indeterminate",
    "safety-05-wrist-non-diagnostic",
    "safety-06-heatmap-legend",
    "safety-07-patient-conflict",
)
# Issue #19 (tests/e2e/test_viewer_browser.py): the diagnostic viewer and a reading session.
VIEWER = (
    "viewer-01-16bit-windowed-measured",
    "viewer-02-worklist-age-accession-indication",
    "viewer-03-prior-side-by-side",
    "viewer-04-linked-zoom-pan",
)
# Issue #19 (tests/e2e/test_report_browser.py): the signed report, notifications, user management.
REPORT = (
    "report-01-print-view",
    "report-02-amended-history",
    "notify-02-list",
    "users-01-create-radiologist",
    "users-02-radiologist-first-login",
)
WIDTH = 1000
SAFETY_WIDTH = 720


def publish(source: Path, target: Path) -> list[Path]:
    """Write each screenshot that exists, downscaled with a 256-colour palette (small enough to commit)."""
    target.mkdir(parents=True, exist_ok=True)
    written = []
    shots = [*((n, WIDTH) for n in (*JOURNEYS, *VIEWER, *REPORT)), *((n, SAFETY_WIDTH) for n in SAFETY)]
    for name, width in shots:
        if not (source / f"{name}.png").is_file():
            print(f"skipped {name}: no screenshot (run the browser tests first)")
            continue
        with Image.open(source / f"{name}.png") as shot:
            image = shot.convert("RGB")
        image = image.resize((width, round(image.height * width / image.width)), Image.Resampling.LANCZOS)
        # Octree keeps the few saturated colours (heatmap, legend, badges) that median cut merges into grey.
        palette = image.quantize(colors=128, method=Image.Quantize.FASTOCTREE, dither=Image.Dither.NONE)
        palette.save(target / f"{name}.png", optimize=True)
        written.append(target / f"{name}.png")
    return written


if __name__ == "__main__":
    artifacts = Path(os.environ.get("AIRSPACE_ARTIFACTS") or ROOT / "artifacts")
    for path in publish(artifacts / "screenshots", ROOT / "docs" / "screenshots"):
        print(f"{path.relative_to(ROOT)}  {path.stat().st_size // 1024} kB")
