"""DICOM nodes: the PACS and modalities Airspace receives studies from and sends results to."""

from __future__ import annotations

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator, RegexValidator
from django.db import models

# PS3.5 AE title: 1-16 characters of the default repertoire, no backslash or control characters; leading
# and trailing spaces are not significant, so they are not allowed here.
AE_TITLE_PATTERN = r"^[\x21-\x5b\x5d-\x7e]([\x20-\x5b\x5d-\x7e]{0,14}[\x21-\x5b\x5d-\x7e])?$"
AE_TITLE_MESSAGE = "An AE title is 1-16 printable characters, no backslash, no leading or trailing space."
# A node's name also names its service account (dicom-node-NAME), so it keeps to a safe alphabet.
NODE_NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,47}$"
NODE_NAME_MESSAGE = "Use letters, digits, - _ . only (max 48)."


class DicomNode(models.Model):
    """One remote DICOM application entity; inbound nodes may store to Airspace, outbound nodes get results."""

    name = models.CharField(
        max_length=48, unique=True, validators=[RegexValidator(NODE_NAME_PATTERN, NODE_NAME_MESSAGE)]
    )
    ae_title = models.CharField(
        "AE title", max_length=16, validators=[RegexValidator(AE_TITLE_PATTERN, AE_TITLE_MESSAGE)]
    )
    # The address the node calls from (inbound: associations from elsewhere are refused) and listens on.
    host = models.CharField(max_length=255)
    port = models.PositiveIntegerField(validators=[MinValueValidator(1), MaxValueValidator(65535)])
    inbound = models.BooleanField(default=False)
    outbound = models.BooleanField(default=False)
    # An inbound node's studies belong to this department (its clinicians see them).
    department = models.ForeignKey(
        "diagnosis.Department", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    # Outbound over STOW-RS instead of (or as well as) C-STORE, e.g. https://pacs.example/dicom-web
    dicomweb_url = models.URLField(max_length=500, blank=True)
    # The account a node's received studies are filed and audited under (created with the node).
    service_user = models.OneToOneField(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="dicom_node"
    )
    active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return f"{self.name} ({self.ae_title}@{self.host}:{self.port})"


class InboundStudy(models.Model):
    """One StudyInstanceUID arriving from one sender: collected until quiet, then filed as a study.

    Keeps the original identifiers a result needs to be filed back into the PACS study (the files on disk
    are de-identified like every upload's).
    """

    class State(models.TextChoices):
        COLLECTING = "collecting", "Collecting (quiet window)"
        RELEASED = "released", "Filed as a study"
        FAILED = "failed", "Failed"

    id = models.BigAutoField(primary_key=True)
    node = models.ForeignKey(DicomNode, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    # The account the study is filed and audited under: the node's service account, or the STOW-RS caller.
    sender = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    source = models.CharField(max_length=8, default="dicom")  # diagnosis.StudySource: dicom or stow
    study_instance_uid = models.CharField(max_length=64, db_index=True)
    study = models.ForeignKey(
        "diagnosis.Study", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    state = models.CharField(max_length=12, choices=State.choices, default=State.COLLECTING, db_index=True)
    error = models.TextField(blank=True)
    first_received_at = models.DateTimeField(auto_now_add=True)
    last_received_at = models.DateTimeField(db_index=True)
    released_at = models.DateTimeField(null=True, blank=True)
    # The original study and patient identifiers, as the first accepted instance carried them.
    patient_id = models.CharField(max_length=64, blank=True)
    issuer_of_patient_id = models.CharField(max_length=64, blank=True)
    patient_name = models.CharField(max_length=324, blank=True)  # PN, "Family^Given"
    patient_birth_date = models.DateField(null=True, blank=True)
    patient_sex = models.CharField(max_length=16, blank=True)
    accession_number = models.CharField(max_length=16, blank=True)
    dicom_study_id = models.CharField(max_length=16, blank=True)  # (0020,0010) Study ID
    study_date = models.DateField(null=True, blank=True)
    study_time = models.CharField(max_length=16, blank=True)
    referring_physician_name = models.CharField(max_length=324, blank=True)
    study_description = models.CharField(max_length=64, blank=True)

    class Meta:
        ordering = ["-last_received_at"]
        constraints = [
            # Concurrent associations of one sender never open two collections of one study.
            models.UniqueConstraint(
                fields=["sender", "study_instance_uid"],
                condition=models.Q(state="collecting"),
                name="inbound_study_one_collecting",
            ),
        ]

    def __str__(self) -> str:
        return f"Inbound study {self.study_instance_uid} ({self.state})"


class ReceivedInstance(models.Model):
    """One instance that arrived over C-STORE or STOW-RS, and what became of it."""

    class Status(models.TextChoices):
        ACCEPTED = "accepted", "Accepted"
        IGNORED = "ignored", "Ignored by a routing rule"
        FAILED = "failed", "Failed"

    id = models.BigAutoField(primary_key=True)
    node = models.ForeignKey(DicomNode, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    sender = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    source = models.CharField(max_length=8, default="dicom")
    inbound_study = models.ForeignKey(
        InboundStudy, null=True, blank=True, on_delete=models.PROTECT, related_name="instances"
    )
    # The original UIDs as sent (the stored file's are remapped by de-identification).
    sop_class_uid = models.CharField(max_length=64, blank=True)
    sop_instance_uid = models.CharField(max_length=64, blank=True, db_index=True)
    series_instance_uid = models.CharField(max_length=64, blank=True)
    study_instance_uid = models.CharField(max_length=64, blank=True, db_index=True)
    transfer_syntax_uid = models.CharField(max_length=64, blank=True)
    modality = models.CharField(max_length=16, blank=True)
    body_part = models.CharField(max_length=64, blank=True)
    view_position = models.CharField(max_length=16, blank=True)
    size_bytes = models.PositiveBigIntegerField(default=0)
    status = models.CharField(max_length=10, choices=Status.choices, db_index=True)
    rule = models.CharField(max_length=40, blank=True)  # the routing rule that ignored it
    reason = models.TextField(blank=True)
    # The received bytes while the study collects: an encrypted inbox file (services/inbox.py), removed
    # once the study is filed de-identified.
    held_file = models.CharField(max_length=255, blank=True)
    image = models.ForeignKey(
        "diagnosis.Image", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    received_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-received_at"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(status__in=["accepted", "ignored", "failed"]), name="received_status_valid"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.sop_instance_uid or 'instance'} ({self.status})"


class DicomDelivery(models.Model):
    """One result object (AI SR, heatmap capture, review SR) for one outbound node, and how sending it went."""

    class Kind(models.TextChoices):
        SR = "sr", "AI structured report"
        SC = "sc", "Heatmap secondary capture"
        REVIEW_SR = "review_sr", "Radiologist read SR"

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        DELIVERED = "delivered", "Delivered"
        FAILED = "failed", "Failed"

    id = models.BigAutoField(primary_key=True)
    study = models.ForeignKey("diagnosis.Study", on_delete=models.PROTECT, related_name="+")
    node = models.ForeignKey(DicomNode, on_delete=models.PROTECT, related_name="deliveries")
    kind = models.CharField(max_length=10, choices=Kind.choices)
    # The prediction (sr, sc) or review version (review_sr) the object reports.
    source_id = models.UUIDField()
    # Derived from the study and the record (pacs.dicom_objects.uids): a resend is the same instance.
    sop_instance_uid = models.CharField(max_length=64)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING, db_index=True)
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True)
    # Set by the conditional UPDATE that claims a send; cleared when the attempt ends.
    claimed_at = models.DateTimeField(null=True, blank=True)
    # When the next attempt is due: the sweep re-sends a pending row whose task is overdue (lost).
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    delivered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(fields=["node", "sop_instance_uid"], name="dicom_delivery_once_per_node"),
            models.CheckConstraint(
                condition=models.Q(status__in=["pending", "delivered", "failed"]),
                name="dicom_delivery_status",
            ),
            models.CheckConstraint(
                condition=models.Q(kind__in=["sr", "sc", "review_sr"]), name="dicom_delivery_kind"
            ),
        ]
        indexes = [models.Index(fields=["study", "id"], name="dicom_delivery_study")]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} to {self.node_id} for study {self.study_id} ({self.status})"
