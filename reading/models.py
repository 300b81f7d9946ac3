"""Radiologists' reads of studies; the reading claim itself lives on the study row it locks."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.db.models import F, Q

from diagnosis.models import Label


class ReadLabel(models.TextChoices):
    """What a radiologist can sign: the AI's two labels, or that the study cannot be read for pneumonia."""

    NORMAL = "NORMAL", "Normal"
    PNEUMONIA = "PNEUMONIA", "Pneumonia"
    NON_DIAGNOSTIC = "NON_DIAGNOSTIC", "Non-diagnostic"


# The reasons a read may be non-diagnostic (a subset of Review.Reason; kept beside the constraint using it).
NON_DIAGNOSTIC_REASONS = ("wrong_input", "image_quality", "other")


class Review(models.Model):
    """A radiologist's signed read. Amendments are new versions pointing at the previous one."""

    class Decision(models.TextChoices):
        AGREE = "agree", "Agree with AI"
        OVERRIDE = "override", "Override AI"

    class Reason(models.TextChoices):
        IMAGE_QUALITY = "image_quality", "Poor image quality"
        MISSED_FINDING = "missed_finding", "Model missed finding"
        FALSE_ALARM = "false_alarm", "Model false alarm"
        WRONG_INPUT = "wrong_input", "Not a chest X-ray / wrong input"
        OTHER = "other", "Other"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    study = models.ForeignKey("diagnosis.Study", on_delete=models.PROTECT, related_name="reviews")
    prediction = models.ForeignKey("diagnosis.Prediction", on_delete=models.PROTECT, related_name="reviews")
    version = models.PositiveIntegerField(default=1)
    previous = models.OneToOneField(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="amended_by"
    )
    is_current = models.BooleanField(default=True)
    reviewer = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    decision = models.CharField(max_length=10, choices=Decision.choices)
    final_label = models.CharField(max_length=16, choices=ReadLabel.choices)
    # The AI label the reader saw (copied from the prediction) so the database can refuse an "override"
    # that keeps it. Blank only on reads signed before it was recorded.
    ai_label = models.CharField(max_length=10, choices=Label.choices, blank=True)
    reason = models.CharField(max_length=20, choices=Reason.choices, blank=True)
    note = models.TextField(blank=True, max_length=4000)
    # Why a signed read was amended (required on every version after the first).
    amendment_reason = models.TextField(blank=True, max_length=1000)
    signed_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        db_table = "diagnosis_review"  # the table predates the reading app; its rows stay where they are
        ordering = ["-version"]
        constraints = [
            models.UniqueConstraint(fields=["study", "version"], name="review_version_unique"),
            models.UniqueConstraint(
                fields=["study"], condition=Q(is_current=True), name="review_one_current_per_study"
            ),
            models.CheckConstraint(
                condition=Q(decision="agree") | ~Q(reason=""), name="review_override_needs_reason"
            ),
            models.CheckConstraint(condition=Q(final_label__in=ReadLabel.values), name="review_label_valid"),
            models.CheckConstraint(
                condition=~Q(final_label=ReadLabel.NON_DIAGNOSTIC) | Q(reason__in=NON_DIAGNOSTIC_REASONS),
                name="review_non_diagnostic_reason",
            ),
            models.CheckConstraint(
                condition=Q(ai_label="")
                | Q(decision="agree", final_label=F("ai_label"))
                | (Q(decision="override") & ~Q(final_label=F("ai_label"))),
                name="review_override_differs_from_ai",
            ),
            models.CheckConstraint(
                condition=Q(previous__isnull=True) | ~Q(amendment_reason=""),
                name="review_amendment_needs_reason",
            ),
        ]

    def __str__(self) -> str:
        return f"v{self.version} {self.final_label} ({self.decision})"


def report_upload_path(instance: Report, filename: str) -> str:
    """Storage key of a signed report's PDF: beside its study's images, never from user input."""
    return f"studies/{instance.study_id}/report-v{instance.version}-{uuid.uuid4().hex}.pdf"


class ReportStatus(models.TextChoices):
    CURRENT = "current", "Current"
    SUPERSEDED = "superseded", "Superseded"


class Report(models.Model):
    """One version of a study's signed report: made with each signed review, superseded by an amendment.

    The PDF is rendered once (by a worker after commit, or on first download) and never again; its sha256
    is recorded with it, so a served copy can be checked against what was issued.
    """

    Status = ReportStatus

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    study = models.ForeignKey("diagnosis.Study", on_delete=models.PROTECT, related_name="reports")
    review = models.OneToOneField(Review, on_delete=models.PROTECT, related_name="report")
    version = models.PositiveIntegerField()
    status = models.CharField(max_length=12, choices=ReportStatus.choices, default=ReportStatus.CURRENT)
    superseded_at = models.DateTimeField(null=True, blank=True)
    pdf = models.FileField(upload_to=report_upload_path, max_length=255, blank=True)
    sha256 = models.CharField(max_length=64, blank=True)
    size_bytes = models.PositiveIntegerField(null=True, blank=True)
    rendered_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-version"]
        constraints = [
            models.UniqueConstraint(fields=["study", "version"], name="report_version_unique"),
            models.UniqueConstraint(
                fields=["study"], condition=Q(status="current"), name="report_one_current_per_study"
            ),
            models.CheckConstraint(condition=Q(status__in=ReportStatus.values), name="report_status_valid"),
            models.CheckConstraint(
                condition=Q(status="current", superseded_at__isnull=True)
                | Q(status="superseded", superseded_at__isnull=False),
                name="report_superseded_has_time",
            ),
            models.CheckConstraint(
                condition=(Q(sha256="") & Q(pdf="")) | (~Q(sha256="") & ~Q(pdf="")),
                name="report_pdf_has_sha256",
            ),
        ]

    def __str__(self) -> str:
        return f"Report v{self.version} ({self.status})"
