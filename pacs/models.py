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
