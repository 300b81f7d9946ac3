"""The signed report: an HTML print view, the PDF, and the pictures the print view shows."""

from __future__ import annotations

import io
from typing import Any

from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from audit.services.events import ctx
from portal.errors import DomainError
from portal.roles import ANY_ROLE, role_required
from reading.selectors import report_get, report_versions
from reading.services.report_document import report_document
from reading.services.reports import report_image_read, report_pdf_read, report_view_record


def _private(response: HttpResponse) -> HttpResponse:
    """PHI: no cache keeps it, no browser sniffs it."""
    response["Cache-Control"] = "private, no-store"
    response["X-Content-Type-Options"] = "nosniff"
    return response


@role_required(*ANY_ROLE)
@require_GET
def report_page(request: HttpRequest, pk: Any, version: int | None = None) -> HttpResponse:
    """The report as a page that prints cleanly (the print stylesheet hides every control)."""
    report = report_get(user=request.user, study_id=pk, version=version)
    versions = report_versions(user=request.user, study_id=pk)
    report_view_record(user=request.user, report=report, context=ctx(request))
    context = {"report": report, "doc": report_document(report), "versions": versions}
    return _private(render(request, "reading/report.html", context))


@role_required(*ANY_ROLE)
@require_GET
def report_download(request: HttpRequest, pk: Any, version: int | None = None) -> HttpResponse:
    """The PDF of a version (the current one by default); a superseded version says so in its file name."""
    report = report_get(user=request.user, study_id=pk, version=version)
    try:
        pdf = report_pdf_read(user=request.user, report=report, context=ctx(request))
    except DomainError as exc:
        return _private(HttpResponse(exc.message, status=409, content_type="text/plain; charset=utf-8"))
    suffix = "" if report.status == report.Status.CURRENT else "-superseded"
    name = f"airspace-report-{report.study_id}-v{report.version}{suffix}.pdf"
    response = FileResponse(
        io.BytesIO(pdf), content_type="application/pdf", as_attachment=True, filename=name
    )
    response["Content-Security-Policy"] = "default-src 'none'; sandbox"
    return _private(response)


@role_required(*ANY_ROLE)
@require_GET
def report_image(request: HttpRequest, pk: Any, version: int, kind: str) -> HttpResponse:
    """The analysed image ("plain") or the same with the heatmap ("overlay") as the report shows it."""
    if kind not in ("plain", "overlay"):
        raise Http404("No such image.")
    report = report_get(user=request.user, study_id=pk, version=version)
    jpeg = report_image_read(
        user=request.user, report=report, overlay=kind == "overlay", context=ctx(request)
    )
    if jpeg is None:
        raise Http404("This report shows no such image.")
    return _private(HttpResponse(jpeg, content_type="image/jpeg"))
