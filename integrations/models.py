"""Outbound results: one HL7 v2 delivery per study and result event, with its state and attempts."""

from __future__ import annotations

from django.db import models
from django.db.models import Q
from django.utils import timezone


class Hl7Delivery(models.Model):
    """One ORU^R01 for one study event (a prediction, a signed read, an amendment) and how sending it went."""

    class Event(models.TextChoices):
        PRELIMINARY = "preliminary", "Preliminary (AI result)"
        FINAL = "final", "Final (signed read)"
        CORRECTED = "corrected", "Corrected (amended read)"

    class State(models.TextChoices):
        PENDING = "pending", "Pending"
        DELIVERED = "delivered", "Delivered"
        FAILED = "failed", "Failed"

    id = models.BigAutoField(primary_key=True)
    study = models.ForeignKey("diagnosis.Study", on_delete=models.PROTECT, related_name="+")
    event = models.CharField(max_length=12, choices=Event.choices)
    # The prediction (preliminary) or review version (final, corrected) the message reports.
    source_id = models.UUIDField()
    # MSH-10, kept across retries so the receiver can drop a repeat whose first ACK was lost.
    control_id = models.CharField(max_length=20, unique=True)
    state = models.CharField(max_length=10, choices=State.choices, default=State.PENDING, db_index=True)
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True)
    # Set by the conditional UPDATE that claims a send; cleared when the attempt ends.
    claimed_at = models.DateTimeField(null=True, blank=True)
    # When the task carrying the next attempt is due; a pending delivery well past it lost its task
    # (broker restart, a crash between commit and publish) and the sweep sends it again.
    next_attempt_at = models.DateTimeField(default=timezone.now, db_index=True)
    created_at = models.DateTimeField(auto_now_add=True)
    delivered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["study", "event", "source_id"], name="hl7_delivery_once_per_event"
            ),
            models.CheckConstraint(
                condition=Q(state__in=["pending", "delivered", "failed"]), name="hl7_state_valid"
            ),
            models.CheckConstraint(
                condition=Q(event__in=["preliminary", "final", "corrected"]), name="hl7_event_valid"
            ),
        ]

    def __str__(self) -> str:
        return f"HL7 {self.event} for study {self.study_id} ({self.state}, {self.attempts} attempts)"

    @property
    def result_status(self) -> str:
        """OBR-25 / OBX-11: P, F or C."""
        return {"preliminary": "P", "final": "F", "corrected": "C"}[self.event]
