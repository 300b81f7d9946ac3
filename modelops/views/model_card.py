"""The model page: the active bundle's card, metadata and evaluation plots, for signed-in staff only."""

from __future__ import annotations

import mimetypes
import re
from pathlib import Path
from typing import Any

from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from markdown_it import MarkdownIt

from mlcore import BundleError
from mlcore.bundle import read_metadata
from modelops.selectors import active_bundle, lifecycle_history, profile_list
from portal.roles import ANY_ROLE, Role, has_role, role_required

# Report files a browser may be given: plain names, known types (no path, no HTML).
REPORT_FILE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,120}\.(png|svg|jpg|json|csv|txt|md)$")
PLOT_SUFFIXES = (".png", ".svg", ".jpg")
# Raw HTML in the card is escaped, never rendered; links are limited to safe schemes by markdown-it.
_markdown = MarkdownIt("commonmark", {"html": False}).enable("table")


def _bundle() -> tuple[Path | None, dict[str, Any], str]:
    """The active bundle folder and metadata, or the reason it cannot be shown."""
    try:
        bundle = active_bundle()
        return bundle.path, read_metadata(bundle.path), ""
    except BundleError as exc:
        return None, {}, str(exc)


# The bundle facts a reader needs, in reading order: (metadata key, label, format).
FACTS = (
    ("version", "Version", "{}"),
    ("previous_version", "Previous version", "{}"),
    ("created_at", "Created", "{}"),
    ("threshold", "Operating point (threshold)", "{:.4f}"),
    ("target_sensitivity", "Target sensitivity at the operating point", "{:.2f}"),
    ("indeterminate_band", "Indeterminate band", "{}"),
    ("temperature", "Calibration temperature", "{:.3f}"),
    ("input_size", "Input size (pixels)", "{}"),
    ("preprocessing", "Preprocessing", "{}"),
    ("data_manifest_sha256", "Training data manifest (sha256)", "{:.16}…"),
    ("code_revision", "Code revision", "{:.12}"),
)


def _facts(metadata: dict[str, Any]) -> list[tuple[str, str]]:
    """Label and formatted value for each known fact present in the metadata."""
    rows = []
    for key, label, fmt in FACTS:
        value = metadata.get(key)
        if isinstance(value, list):
            value = " – ".join(f"{v:.4f}" if isinstance(v, float) else str(v) for v in value)
            fmt = "{}"
        if value is not None:
            try:
                rows.append((label, fmt.format(value)))
            except (TypeError, ValueError):
                rows.append((label, str(value)))
    validation = metadata.get("validation") or {}
    if "n_images" in validation:
        rows.append(
            (
                "Validation set",
                f"{validation['n_images']} images of {validation.get('n_patients', '?')} patients",
            )
        )
    return rows


def _metrics(metadata: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per metric: value and, when recorded, its 95% confidence interval."""
    rows = []
    for name, entry in (metadata.get("metrics") or {}).items():
        entry = entry if isinstance(entry, dict) else {"value": entry}
        if isinstance(entry.get("value"), int | float):
            rows.append(
                {"name": name.replace("_", " "), **{k: entry.get(k) for k in ("value", "ci_low", "ci_high")}}
            )
    return rows


# Captions for the report's plot files; any other file is captioned from its name.
PLOT_TITLES = {
    "pr": "Precision–recall",
    "roc": "ROC",
    "reliability": "Reliability (calibration)",
    "confusion": "Confusion matrix",
    "distribution": "Probability distribution",
    "score_histograms": "Score histograms",
    "training_curves": "Training curves",
    "training_data": "Training data",
}


def plot_title(name: str) -> str:
    """A plot's caption: the known title for its file stem, else the stem in words."""
    stem = Path(name).stem
    return PLOT_TITLES.get(stem.lower()) or stem.replace("_", " ").replace("-", " ").capitalize()


def _plots(bundle: Path) -> list[dict[str, str]]:
    report = bundle / "report"
    if not report.is_dir():
        return []
    names = sorted(
        p.name for p in report.iterdir() if p.suffix in PLOT_SUFFIXES and REPORT_FILE.match(p.name)
    )
    return [{"name": n, "title": plot_title(n)} for n in names]


@role_required(*ANY_ROLE)
def model_card(request: HttpRequest) -> HttpResponse:
    """The active model's card (Markdown, HTML escaped), key metadata and evaluation plots."""
    bundle, metadata, problem = _bundle()
    card_html = ""
    if bundle is not None and (bundle / "MODEL_CARD.md").is_file():
        card_html = _markdown.render((bundle / "MODEL_CARD.md").read_text(errors="replace"))
    is_admin = has_role(request.user, Role.ADMIN)
    context = {
        "problem": problem,
        "metadata": metadata,
        "facts": _facts(metadata),
        "metrics": _metrics(metadata),
        "card_html": card_html,
        "plots": _plots(bundle) if bundle else [],
        # Admins see the site's operating profiles and may calibrate from the signed reads.
        "profiles": (
            list(profile_list(model_version=str(metadata.get("version", ""))))
            if is_admin and metadata
            else []
        ),
        # ... and which bundle and profile served when (promotions, rollbacks, activations).
        "history": lifecycle_history() if is_admin else [],
    }
    return render(request, "modelops/model_card.html", context)


@role_required(*ANY_ROLE)
def model_report_file(request: HttpRequest, name: str) -> FileResponse:
    """One file from the bundle's report folder (authenticated; never a public media URL)."""
    bundle, _metadata, _problem = _bundle()
    if bundle is None or not REPORT_FILE.match(name):
        raise Http404("No such report file.")
    path = (bundle / "report" / name).resolve()
    if path.parent != (bundle / "report").resolve() or not path.is_file():
        raise Http404("No such report file.")
    content_type = mimetypes.guess_type(name)[0] or "application/octet-stream"
    if name.endswith((".md", ".csv", ".txt")):
        content_type = "text/plain; charset=utf-8"
    response = FileResponse(path.open("rb"), content_type=content_type)
    response["Cache-Control"] = "private, max-age=300"
    response["Content-Security-Policy"] = "default-src 'none'; style-src 'unsafe-inline'; sandbox"
    return response
