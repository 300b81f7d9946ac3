"""The signed report's PDF: time to prepare its two pictures and to draw it, and its size.

DJANGO_SETTINGS_MODULE=portal.settings.dev .venv/bin/python bench/report_pdf.py [--runs 20] [--side 2000]

A committed chest X-ray upscaled to --side px (a typical CR film) with a heatmap over the lower right lung;
the document has a one-version history, then a ten-version one. Prints the median and the slowest run of:
decoding the film to the 1,024 px display picture, compositing the heatmap and encoding both as JPEG
(reading.services.report_pdf.report_images), and reading.services.report_pdf.report_pdf itself. No
database and no network: a download that finds no PDF yet pays the sum once; later downloads read the file.
"""

from __future__ import annotations

import argparse
import datetime as dt
import io
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import django
import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
django.setup()

from mlcore.decoding import decode_image  # noqa: E402
from mlcore.heatmap import colourise  # noqa: E402
from reading.services.report_document import AiEntry, ReadEntry, ReportDocument  # noqa: E402
from reading.services.report_pdf import ReportImages, report_images, report_pdf  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
NOW = dt.datetime(2026, 11, 27, 20, 0, tzinfo=dt.UTC)


def film(side: int) -> bytes:
    """A fixture X-ray resized so its longer side is `side`, as JPEG bytes."""
    source = sorted((ROOT / "tests/fixtures/xrays/PNEUMONIA").glob("*.jp*g"))[0]
    with Image.open(source) as picture:
        scale = side / max(picture.size)
        big = picture.convert("L").resize((round(picture.width * scale), round(picture.height * scale)))
    out = io.BytesIO()
    big.save(out, format="JPEG", quality=90)
    return out.getvalue()


def heatmap(size: tuple[int, int]) -> bytes:
    """A smooth blob as the model's RGBA overlay."""
    y, x = np.mgrid[0 : size[1], 0 : size[0]] / max(size)
    level = np.exp(-((x - 0.35) ** 2 + (y - 0.55) ** 2) / 0.02)
    out = io.BytesIO()
    Image.fromarray(colourise(level), mode="RGBA").save(out, format="PNG")
    return out.getvalue()


def document(versions: int) -> ReportDocument:
    history = tuple(
        ReadEntry(
            version=v,
            label="Pneumonia" if v % 2 else "Normal",
            decision="Agree with AI" if v % 2 else "Override AI",
            reason="" if v % 2 else "Model false alarm",
            note="Right lower lobe consolidation.",
            reader="Carol Reader (carol)",
            signed_at=NOW + dt.timedelta(hours=v),
            amendment_reason="" if v == 1 else f"Second look number {v}: compared with the prior film.",
        )
        for v in range(1, versions + 1)
    )
    ai = AiEntry(
        verdict="Pneumonia",
        probability=0.93,
        threshold=0.5,
        model_version="airspace-cnn-1.0.0",
        operating_profile="#3 · Fitted on reads",
        run_number=1,
        analysed_at=NOW,
        heatmap_shown=True,
        heatmap_note="Heatmap: where the model's evidence for pneumonia lies (decision support only).",
    )
    return ReportDocument(
        report_id="bench",
        study_id="00000000-0000-4000-8000-000000000000",
        version=versions,
        status="current",
        patient_name="Ada Byron",
        mrn="MRN-1901",
        birth_date=dt.date(2022, 3, 1),
        sex="Female",
        age_at_study="4 years",
        accession="ACC-19-001",
        study_date=NOW.date(),
        priority="Urgent",
        department="Paediatrics",
        requested_by="Alice Clinician (alice)",
        received_at=NOW,
        indication="Fever and cough for five days; crackles right base.",
        final=history[-1],
        ai=ai,
        history=history,
    )


def timed(runs: int, work: Callable[[], object]) -> tuple[float, float, object]:
    """Median and slowest wall time in ms over `runs`, and the last result."""
    times, result = [], None
    for _ in range(runs):
        start = time.perf_counter()
        result = work()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times), max(times), result


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--side", type=int, default=2000)
    args = parser.parse_args()
    data = film(args.side)
    overlay_source = heatmap(decode_image(data).display_image().size)

    def pictures() -> ReportImages:
        return report_images(decode_image(data).display_image(), overlay_source)

    med, worst, images = timed(args.runs, pictures)
    print(
        f"film {args.side} px JPEG ({len(data) // 1024} KiB): pictures {med:.0f} ms median, {worst:.0f} ms max"
    )
    for versions in (1, 10):
        doc = document(versions)
        med, worst, pdf = timed(args.runs, lambda d=doc: report_pdf(d, images))
        print(
            f"report_pdf, {versions:2d} version(s): {med:.0f} ms median, {worst:.0f} ms max, {len(pdf) // 1024} KiB"
        )


if __name__ == "__main__":
    main()
