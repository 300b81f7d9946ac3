"""Signed reports: a version per signed review, its PDF rendered once and hashed, every read of it audited."""

from __future__ import annotations

import hashlib
import logging
from typing import Any

from celery import current_app
from django.db import transaction
from django.utils import timezone

from audit.services.events import SYSTEM, AuditContext, audit_record
from diagnosis.models import Prediction
from diagnosis.services.storage import stored_files
from portal.errors import Conflict
from reading.models import Report, Review
from reading.services.report_document import ReportDocument, report_document
from reading.services.report_pdf import ReportImages, report_images, report_pdf

logger = logging.getLogger(__name__)
REPORT_RENDER_TASK = "reading.tasks.report_render_task"


def _render_send(report_id: Any) -> None:
    """Publish the render to a worker, by name (the task module imports this one)."""
    current_app.send_task(REPORT_RENDER_TASK, args=[str(report_id)])


def report_version_create(*, review: Review, previous: Review | None) -> Report:
    """The report of a just-signed review (inside its transaction); an amendment supersedes the old one."""
    now = timezone.now()
    if previous is not None:
        Report.objects.filter(study_id=review.study_id, status=Report.Status.CURRENT).update(
            status=Report.Status.SUPERSEDED, superseded_at=now
        )
    report = Report(study_id=review.study_id, review=review, version=review.version)
    report.full_clean(exclude=["study", "review"], validate_constraints=False)
    report.save(force_insert=True)
    # Rendered by a worker so signing never waits on it; a download before then renders it itself.
    transaction.on_commit(lambda: _render_send(report.id), robust=True)
    return report


def _report_images(prediction: Prediction, document: ReportDocument) -> ReportImages:
    """The analysed image as readers see it (DICOM rendered), and with the heatmap when the report shows it."""
    from mlcore.decoding import decode_image  # the decoders load only where a report is drawn

    try:
        with prediction.image.file.open("rb") as handle:
            display = decode_image(handle.read()).display_image()
    except Exception:  # noqa: BLE001 - a missing or unreadable file is said in the report, not a failure
        logger.exception("report: the analysed image of prediction %s could not be read", prediction.id)
        return report_images(None, None)
    heatmap = None
    if document.ai.heatmap_shown:
        with prediction.heatmap.open("rb") as handle:
            heatmap = handle.read()
    return report_images(display, heatmap)


def report_render(*, report_id: Any) -> Report | None:
    """Draw the version's PDF once and record its sha256 (a second renderer loses and drops its file)."""
    report = Report.objects.select_related("review__prediction__image").filter(id=report_id).first()
    if report is None or report.sha256:
        return report
    document = report_document(report)
    pdf = report_pdf(document, _report_images(report.review.prediction, document))
    digest = hashlib.sha256(pdf).hexdigest()
    with stored_files() as files, transaction.atomic():
        name = files.save(report.pdf, "report.pdf", pdf)
        won = Report.objects.filter(id=report.id, sha256="").update(
            pdf=name, sha256=digest, size_bytes=len(pdf), rendered_at=timezone.now()
        )
        if not won:
            files.delete_all()
            return Report.objects.get(id=report.id)
        audit_record(
            actor=None,
            action="report.render",
            object_type="study",
            object_id=report.study_id,
            after={"report": str(report.id), "version": report.version, "sha256": digest, "bytes": len(pdf)},
        )
    return Report.objects.get(id=report.id)


@transaction.atomic
def report_view_record(*, user: Any, report: Report, context: AuditContext = SYSTEM) -> None:
    """Audit that the report's print view was opened."""
    audit_record(
        actor=user,
        action="report.view",
        object_type="study",
        object_id=report.study_id,
        after={"report": str(report.id), "version": report.version, "status": report.status},
        context=context,
    )


def report_pdf_read(*, user: Any, report: Report, context: AuditContext = SYSTEM) -> bytes:
    """The version's PDF bytes (rendered now if no worker has yet), checked against its sha256; audited."""
    rendered = report_render(report_id=report.id) if not report.sha256 else report
    assert rendered is not None  # the row exists: the caller read it
    with rendered.pdf.open("rb") as handle:
        pdf = handle.read()
    digest = hashlib.sha256(pdf).hexdigest()
    if digest != rendered.sha256:
        message = "The stored report does not match the checksum recorded when it was issued."
        _download_audit(user, rendered, context, action="report.integrity_failed", sha256=digest)
        raise Conflict(message, code="report_checksum_mismatch")
    _download_audit(user, rendered, context, action="report.download", sha256=digest)
    return pdf


@transaction.atomic
def _download_audit(user: Any, report: Report, context: AuditContext, *, action: str, sha256: str) -> None:
    audit_record(
        actor=user,
        action=action,
        object_type="study",
        object_id=report.study_id,
        after={
            "report": str(report.id),
            "version": report.version,
            "status": report.status,
            "sha256": sha256,
        },
        context=context,
    )


def report_image_read(
    *, user: Any, report: Report, overlay: bool, context: AuditContext = SYSTEM
) -> bytes | None:
    """The analysed image, or the same with the heatmap, as the report shows it (None: not shown); audited."""
    prediction = report.review.prediction
    images = _report_images(prediction, report_document(report))
    jpeg = images.overlay_jpeg if overlay else images.plain_jpeg
    if jpeg is not None:
        with transaction.atomic():
            audit_record(
                actor=user,
                action="image.view",
                object_type="image",
                object_id=prediction.image_id,
                after={"study": str(report.study_id), "report": str(report.id), "heatmap": overlay},
                context=context,
            )
    return jpeg
