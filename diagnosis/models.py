"""Patients, studies, images and predictions. Invariants live in database constraints; side effects live in services."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.core.validators import RegexValidator
from django.db import models
from django.db.models import F, Q
from django.utils import timezone

from mlcore.intended_use import flag_notice

# The one MRN format of the project (model, forms, API, the upload page's script via data-pattern): letters
# and digits first, then letters, digits, - _ . up to 64 characters. No spaces, quotes, slashes or control
# characters, so an MRN is safe in file names, CSV cells, URLs and log lines.
MRN_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9\-_.]{0,63}$"
MRN_MESSAGE = "Use letters, digits, - _ . only (max 64)."


class Label(models.TextChoices):
    """What the AI can say."""

    NORMAL = "NORMAL", "Normal"
    PNEUMONIA = "PNEUMONIA", "Pneumonia"


# Signed-value tolerance for the confidence = 1 - probability constraint (float arithmetic in SQL).
_CONFIDENCE_EPSILON = 1e-9


class Department(models.Model):
    name = models.CharField(max_length=120, unique=True)

    def __str__(self) -> str:
        return self.name


class StaffProfile(models.Model):
    """Links a user to a department; clinicians see their department's studies."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="profile")
    department = models.ForeignKey(Department, null=True, blank=True, on_delete=models.PROTECT)

    def __str__(self) -> str:
        return f"{self.user} ({self.department or 'no department'})"


class Patient(models.Model):
    class Sex(models.TextChoices):
        FEMALE = "F", "Female"
        MALE = "M", "Male"
        OTHER = "O", "Other"
        UNKNOWN = "U", "Unknown"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    # An MRN names one patient record per scope (department, or the uploader without one): a clinician
    # typing another department's MRN gets a record of their own, so no answer reveals the other (#17).
    mrn = models.CharField(
        "MRN", max_length=64, db_index=True, validators=[RegexValidator(MRN_PATTERN, MRN_MESSAGE)]
    )
    name = models.CharField(max_length=200, blank=True)
    birth_date = models.DateField(null=True, blank=True)
    sex = models.CharField(max_length=1, choices=Sex.choices, default=Sex.UNKNOWN)
    department = models.ForeignKey(Department, null=True, blank=True, on_delete=models.PROTECT)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["mrn"]
        constraints = [
            models.UniqueConstraint(
                fields=["department", "mrn"],
                condition=Q(department__isnull=False),
                name="patient_mrn_unique_per_department",
            ),
            models.UniqueConstraint(
                fields=["created_by", "mrn"],
                condition=Q(department__isnull=True),
                name="patient_mrn_unique_per_owner",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.mrn} {self.name}".strip()


class StudyStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    PROCESSING = "processing", "Processing"
    COMPLETED = "completed", "Completed"
    FAILED = "failed", "Failed"
    REJECTED = "rejected", "Rejected"
    CANCELLED = "cancelled", "Cancelled"


class StudyPriority(models.TextChoices):
    ROUTINE = "routine", "Routine"
    URGENT = "urgent", "Urgent"


class StudySource(models.TextChoices):
    """How a study reached Airspace."""

    UPLOAD = "upload", "Upload"
    DICOM = "dicom", "DICOM C-STORE"
    STOW = "stow", "DICOMweb STOW-RS"


class Study(models.Model):
    Status = StudyStatus
    Priority = StudyPriority
    Source = StudySource

    FINAL_STATUSES = (Status.COMPLETED, Status.FAILED, Status.REJECTED, Status.CANCELLED)

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="studies")
    accession_number = models.CharField(max_length=64, blank=True)
    study_date = models.DateField(null=True, blank=True)
    clinical_notes = models.TextField(blank=True, max_length=4000)
    priority = models.CharField(max_length=10, choices=Priority.choices, default=Priority.ROUTINE)
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.QUEUED, db_index=True)
    error_code = models.CharField(max_length=40, blank=True)
    status_reason = models.TextField(blank=True)
    department = models.ForeignKey(Department, null=True, blank=True, on_delete=models.PROTECT)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)
    # Last hand-over to the broker; the sweeper re-enqueues studies queued long after it.
    enqueued_at = models.DateTimeField(default=timezone.now)
    # Worker claim: set by the conditional UPDATE that moves queued -> processing.
    processing_started_at = models.DateTimeField(null=True, blank=True)
    # Which worker holds the claim (WorkerHeartbeat.worker): released at once when it stops heartbeating.
    processing_worker = models.CharField(max_length=200, blank=True, default="")
    completed_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    rerun_requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    idempotency_key = models.CharField(max_length=128, blank=True)
    duplicate_of = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    # Reading claim on the radiologist worklist.
    reading_claimed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    reading_claim_expires_at = models.DateTimeField(null=True, blank=True)
    # Wrong-patient warnings recorded at upload (codes in diagnosis.services.patient_checks), e.g. a DICOM
    # header naming another patient; the study is still analysed, and readers are told.
    warnings = models.JSONField(default=list, blank=True)
    source = models.CharField(max_length=8, choices=Source.choices, default=Source.UPLOAD)
    # The DICOM study it came from (C-STORE, STOW-RS or an uploaded DICOM file): results are filed back here.
    study_instance_uid = models.CharField(max_length=64, blank=True, db_index=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name_plural = "studies"
        constraints = [
            models.CheckConstraint(condition=Q(status__in=StudyStatus.values), name="study_status_valid"),
            models.CheckConstraint(
                condition=Q(priority__in=StudyPriority.values), name="study_priority_valid"
            ),
            models.CheckConstraint(condition=Q(source__in=StudySource.values), name="study_source_valid"),
            models.UniqueConstraint(
                fields=["created_by", "idempotency_key"],
                condition=~Q(idempotency_key=""),
                name="study_idempotency_key_unique",
            ),
        ]
        indexes = [
            # Admission control reads how many studies finished in the last seconds (the workers' rate);
            # only finished studies are indexed, so the claim and the upload add no entry to it.
            models.Index(
                fields=["completed_at"],
                condition=Q(completed_at__isnull=False),
                name="study_completed_at_idx",
            ),
        ]

    def __str__(self) -> str:
        return f"Study {self.id} ({self.status})"

    @property
    def is_final(self) -> bool:
        return self.status in self.FINAL_STATUSES


class WorkerHeartbeat(models.Model):
    """A Celery worker (one boot of one main process): alive while last_seen_at keeps moving."""

    worker = models.CharField(max_length=200, primary_key=True)
    hostname = models.CharField(max_length=255)
    pid = models.PositiveIntegerField()
    started_at = models.DateTimeField(default=timezone.now)
    last_seen_at = models.DateTimeField(default=timezone.now, db_index=True)

    def __str__(self) -> str:
        return f"Worker {self.worker} (last seen {self.last_seen_at:%X})"


def image_upload_path(instance: Image, filename: str) -> str:
    """Storage key: random, never derived from the user's file name."""
    return f"studies/{instance.study_id}/{uuid.uuid4().hex}{_extension(instance.format)}"


def heatmap_upload_path(instance: Prediction, filename: str) -> str:
    """Heatmap storage key beside its study's image."""
    return f"studies/{instance.study_id}/heatmap-{uuid.uuid4().hex}.png"


def _extension(image_format: str) -> str:
    return {"JPEG": ".jpg", "PNG": ".png", "DICOM": ".dcm"}.get(image_format, ".bin")


class Image(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    study = models.ForeignKey(Study, on_delete=models.PROTECT, related_name="images")
    file = models.FileField(upload_to=image_upload_path, max_length=255)
    original_filename = models.CharField(max_length=255, blank=True)
    sha256 = models.CharField(max_length=64, db_index=True)
    size_bytes = models.PositiveBigIntegerField()
    width = models.PositiveIntegerField()
    height = models.PositiveIntegerField()
    format = models.CharField(max_length=10)
    meta = models.JSONField(default=dict, blank=True)
    deidentified = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at"]
        constraints = [
            models.CheckConstraint(condition=Q(width__gte=1) & Q(height__gte=1), name="image_dims_positive"),
        ]

    def __str__(self) -> str:
        return f"{self.format} {self.width}x{self.height} ({self.sha256[:12]})"


class Prediction(models.Model):
    """The AI's output for a study. Never edited after creation; a re-run adds a new row."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    study = models.ForeignKey(Study, on_delete=models.PROTECT, related_name="predictions")
    image = models.ForeignKey(Image, on_delete=models.PROTECT, related_name="predictions")
    model_version = models.CharField(max_length=64)
    run_number = models.PositiveIntegerField(default=1)
    probability = models.FloatField()
    label = models.CharField(max_length=10, choices=Label.choices)
    confidence = models.FloatField()
    threshold = models.FloatField()
    indeterminate = models.BooleanField(default=False)
    # The site's operating profile that turned the logit into this label (null before profiles existed);
    # the raw logit lets a later profile be fitted on the site's reads without re-running the model.
    operating_profile = models.ForeignKey(
        "modelops.OperatingProfile",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="predictions",
    )
    logit = models.FloatField(null=True, blank=True)
    # Cheap statistics of the analysed image (exposure, contrast, size...), for the input drift alarm.
    input_stats = models.JSONField(default=dict, blank=True)
    gate_score = models.FloatField(null=True, blank=True)
    flags = models.JSONField(default=list, blank=True)
    heatmap = models.FileField(upload_to=heatmap_upload_path, max_length=255, blank=True)
    decode_ms = models.FloatField(default=0)
    model_ms = models.FloatField(default=0)
    heatmap_ms = models.FloatField(default=0)
    total_ms = models.FloatField(default=0)
    turnaround_seconds = models.FloatField(null=True, blank=True)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(
                condition=Q(probability__gte=0) & Q(probability__lte=1), name="prediction_probability_range"
            ),
            # Confidence is the probability of the label shown (mlcore.calibration.label_confidence), so
            # a NORMAL below an operating point above 0.5 has confidence < 0.5: no lower bound of 0.5.
            models.CheckConstraint(
                condition=(Q(label=Label.PNEUMONIA) & Q(confidence=F("probability")))
                | (
                    Q(label=Label.NORMAL)
                    & Q(confidence__gte=1 - F("probability") - _CONFIDENCE_EPSILON)
                    & Q(confidence__lte=1 - F("probability") + _CONFIDENCE_EPSILON)
                ),
                name="prediction_confidence_is_label_probability",
            ),
            models.CheckConstraint(
                condition=Q(label=Label.PNEUMONIA, probability__gte=F("threshold"))
                | Q(label=Label.NORMAL, probability__lt=F("threshold")),
                name="prediction_label_at_threshold",
            ),
            models.CheckConstraint(
                condition=Q(threshold__gte=0) & Q(threshold__lte=1), name="prediction_threshold_range"
            ),
            models.CheckConstraint(condition=Q(label__in=Label.values), name="prediction_label_valid"),
            models.UniqueConstraint(
                fields=["study", "model_version", "run_number"], name="prediction_once_per_model_run"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.label} p={self.probability:.3f} ({self.model_version})"

    @property
    def notices(self) -> list[str]:
        """The flags as sentences a reader understands (the API keeps the codes)."""
        return [flag_notice(code) for code in self.flags]
