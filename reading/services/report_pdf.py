"""The signed report as a PDF, drawn with ReportLab (pure Python: no system libraries to install).

`report_pdf(document, images)` is a pure function of the document and the two pictures, so a test can read
the text back (pypdf) and the render time can be measured on its own (bench/report_pdf.py).
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import Any

from PIL import Image as PILImage
from reportlab import rl_config
from reportlab.lib import colors
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle, getSampleStyleSheet
from reportlab.lib.units import mm
from reportlab.platypus import Image, KeepTogether, Paragraph, SimpleDocTemplate, Table, TableStyle
from reportlab.platypus.flowables import Flowable

from reading.services.report_document import DECISION_SUPPORT, ReadEntry, ReportDocument

_WHEN = "%Y-%m-%d %H:%M UTC"
# Binary streams, not ASCII85: without ReportLab's C accelerator, base-85 encoding the two pictures in pure
# Python was 70 % of the render (0.43 of 0.6 s profiled) and made the file 25 % larger. The setting is
# process-wide; nothing else in Airspace draws PDFs.
rl_config.useA85 = 0


@dataclass(frozen=True)
class ReportImages:
    """The analysed image as shown to readers, and the same with the heatmap over it (None when not shown),
    as JPEG (q 88): ReportLab embeds JPEG bytes as they are, where it re-deflates every pixel of a PNG (3x
    the time and 6x the size, bench/report_pdf.py), and the print page shows the same files."""

    plain_jpeg: bytes | None
    overlay_jpeg: bytes | None


def _jpeg(picture: PILImage.Image) -> bytes:
    out = io.BytesIO()
    picture.save(out, format="JPEG", quality=88)
    return out.getvalue()


def report_images(display: PILImage.Image | None, heatmap_png: bytes | None) -> ReportImages:
    """The two pictures from the display image and the RGBA heatmap (mlcore's one compositing path)."""
    from mlcore.heatmap import heatmap_composite

    if display is None:
        return ReportImages(plain_jpeg=None, overlay_jpeg=None)
    overlay = None
    if heatmap_png is not None:
        overlay = _jpeg(heatmap_composite(display, PILImage.open(io.BytesIO(heatmap_png))))
    return ReportImages(plain_jpeg=_jpeg(display.convert("L")), overlay_jpeg=overlay)


def _styles() -> dict[str, ParagraphStyle]:
    sheet = getSampleStyleSheet()
    return {
        "title": ParagraphStyle("t", parent=sheet["Title"], fontSize=16, spaceAfter=2),
        "h2": ParagraphStyle("h2", parent=sheet["Heading2"], fontSize=12, spaceBefore=8, spaceAfter=3),
        "body": ParagraphStyle("b", parent=sheet["BodyText"], fontSize=9.5, leading=12),
        "small": ParagraphStyle("s", parent=sheet["BodyText"], fontSize=8, leading=10, textColor=colors.grey),
        "final": ParagraphStyle("f", parent=sheet["BodyText"], fontSize=14, leading=18, spaceAfter=2),
        "notice": ParagraphStyle(
            "n", parent=sheet["BodyText"], fontSize=9, leading=11, textColor=colors.HexColor("#7a4b00")
        ),
    }


def _esc(text: Any) -> str:
    """Text safe inside a ReportLab paragraph (its mini-markup is XML)."""
    return str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace("\n", "<br/>")


def _facts(rows: list[tuple[str, Any]], style: ParagraphStyle) -> Table:
    data = [[Paragraph(f"<b>{_esc(k)}</b>", style), Paragraph(_esc(v or "—"), style)] for k, v in rows]
    table = Table(data, colWidths=[38 * mm, 132 * mm])
    table.setStyle(TableStyle([("VALIGN", (0, 0), (-1, -1), "TOP"), ("BOTTOMPADDING", (0, 0), (-1, -1), 1)]))
    return table


def _history(entries: tuple[ReadEntry, ...], style: ParagraphStyle) -> Table:
    head = ["Version", "Signed", "Reader", "Read", "Reason for amending"]
    rows = [[Paragraph(f"<b>{h}</b>", style) for h in head]]
    for e in entries:
        cells = [f"v{e.version}", e.signed_at.strftime(_WHEN), e.reader, e.label, e.amendment_reason or "—"]
        rows.append([Paragraph(_esc(c), style) for c in cells])
    table = Table(rows, colWidths=[16 * mm, 32 * mm, 40 * mm, 26 * mm, 56 * mm], repeatRows=1)
    table.setStyle(
        TableStyle(
            [
                ("GRID", (0, 0), (-1, -1), 0.4, colors.lightgrey),
                ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#eef2f6")),
                ("VALIGN", (0, 0), (-1, -1), "TOP"),
            ]
        )
    )
    return table


def _picture(jpeg: bytes, width: float) -> Image:
    with PILImage.open(io.BytesIO(jpeg)) as picture:
        height = width * picture.height / picture.width
    return Image(io.BytesIO(jpeg), width=width, height=height)


def _images(images: ReportImages, doc: ReportDocument, s: dict[str, ParagraphStyle]) -> list[Flowable]:
    if images.plain_jpeg is None:
        return [Paragraph("The analysed image could not be read for this report.", s["body"])]
    width = 82 * mm
    cells = [[_picture(images.plain_jpeg, width), ""], [Paragraph("Analysed image", s["small"]), ""]]
    if images.overlay_jpeg is not None:
        cells[0][1] = _picture(images.overlay_jpeg, width)
        cells[1][1] = Paragraph("With the AI heatmap (decision support)", s["small"])
    table = Table(cells, colWidths=[86 * mm, 86 * mm])
    table.setStyle(TableStyle([("VALIGN", (0, 0), (-1, -1), "TOP")]))
    return [table, Paragraph(_esc(doc.ai.heatmap_note), s["small"])]


def _story(doc: ReportDocument, images: ReportImages) -> list[Flowable]:
    s = _styles()
    final, ai = doc.final, doc.ai
    story: list[Flowable] = [
        Paragraph("Chest X-ray report — signed", s["title"]),
        # No current/superseded status here: the PDF's bytes (and sha256) never change after issue; an
        # amendment issues a new version whose history names this one.
        Paragraph(f"Report version {doc.version} · study {doc.study_id}", s["small"]),
        Paragraph("Patient", s["h2"]),
        _facts(
            [
                ("Name", doc.patient_name),
                ("MRN", doc.mrn),
                ("Birth date", doc.birth_date.isoformat() if doc.birth_date else ""),
                ("Age at study", doc.age_at_study),
                ("Sex", doc.sex),
            ],
            s["body"],
        ),
        Paragraph("Study", s["h2"]),
        _facts(
            [
                ("Accession", doc.accession),
                ("Study date", doc.study_date.isoformat() if doc.study_date else ""),
                ("Received", doc.received_at.strftime(_WHEN)),
                ("Priority", doc.priority),
                ("Department", doc.department),
                ("Requested by", doc.requested_by),
                ("Indication", doc.indication),
            ],
            s["body"],
        ),
        Paragraph("Final read", s["h2"]),
        Paragraph(f"<b>{_esc(final.label)}</b>", s["final"]),
        _facts(
            [
                ("Reader", final.reader),
                ("Signed", final.signed_at.strftime(_WHEN)),
                ("Decision", f"{final.decision}{' — ' + final.reason if final.reason else ''}"),
                ("Note", final.note),
            ],
            s["body"],
        ),
    ]
    story += [
        KeepTogether(
            [
                Paragraph("AI result — decision support", s["h2"]),
                Paragraph(_esc(DECISION_SUPPORT), s["notice"]),
                _facts(
                    [
                        ("AI verdict", ai.verdict),
                        ("Probability", f"{ai.probability:.2f} (operating point {ai.threshold:.2f})"),
                        ("Model version", ai.model_version),
                        ("Operating profile", ai.operating_profile),
                        ("Analysed", f"{ai.analysed_at.strftime(_WHEN)} (run {ai.run_number})"),
                    ],
                    s["body"],
                ),
            ]
        ),
        Paragraph("Images", s["h2"]),
        *_images(images, doc, s),
        Paragraph("Amendment history", s["h2"]),
        _history(doc.history, s["small"]),
    ]
    return story


def _footer(doc: ReportDocument) -> Any:
    def draw(canvas: Any, template: Any) -> None:
        canvas.saveState()
        canvas.setFont("Helvetica", 7.5)
        canvas.setFillColor(colors.grey)
        text = f"Airspace · study {doc.study_id} · report v{doc.version} · {DECISION_SUPPORT}"
        canvas.drawString(15 * mm, 10 * mm, text[:150])
        canvas.drawRightString(195 * mm, 10 * mm, f"page {canvas.getPageNumber()}")
        canvas.restoreState()

    return draw


def report_pdf(document: ReportDocument, images: ReportImages) -> bytes:
    """The report as PDF bytes (A4, text selectable, no external fonts)."""
    out = io.BytesIO()
    pdf = SimpleDocTemplate(
        out,
        pagesize=A4,
        leftMargin=15 * mm,
        rightMargin=15 * mm,
        topMargin=14 * mm,
        bottomMargin=16 * mm,
        title=f"Chest X-ray report v{document.version}",
        author="Airspace",
        subject=f"study {document.study_id}",
        # Fixed so the same document renders to the same bytes (the sha256 then names the content).
        invariant=1,
    )
    footer = _footer(document)
    pdf.build(_story(document, images), onFirstPage=footer, onLaterPages=footer)
    return out.getvalue()
