"""What happened (an event, once per study and source) and who was told (a notification per recipient)."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q


class Kind(models.TextChoices):
    """What a notification is about; each kind goes to one role and each user chooses which they get."""

    READ_SIGNED = "read_signed", "A read of a study I requested was signed"
    READ_AMENDED = "read_amended", "A signed read of a study I requested was amended"
    STUDY_ARRIVED = "study_arrived", "An urgent, positive or indeterminate study is waiting for a read"
    STUDY_ESCALATED = "study_escalated", "An urgent, positive or indeterminate study waited past the limit"


class NotificationEvent(models.Model):
    """One thing worth telling, recorded once (a redelivered task or a second scan finds it and stops)."""

    kind = models.CharField(max_length=20, choices=Kind.choices)
    study = models.ForeignKey("diagnosis.Study", on_delete=models.PROTECT, related_name="+")
    # The review for read events; "" for a study's arrival or escalation (each happens once per study).
    source_key = models.CharField(max_length=64, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["kind", "study", "source_key"], name="notification_event_once"),
            models.CheckConstraint(condition=Q(kind__in=Kind.values), name="notification_event_kind_valid"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.study_id}"


class EmailState(models.TextChoices):
    NOT_WANTED = "not_wanted", "Not wanted"
    PENDING = "pending", "Pending"
    SENT = "sent", "Sent"
    FAILED = "failed", "Failed"


class Notification(models.Model):
    """One event told to one user: in the bell (unless they chose email only) and by email if they chose it."""

    EmailState = EmailState

    event = models.ForeignKey(NotificationEvent, on_delete=models.PROTECT, related_name="notifications")
    recipient = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    kind = models.CharField(max_length=20, choices=Kind.choices)
    study = models.ForeignKey("diagnosis.Study", on_delete=models.PROTECT, related_name="+")
    title = models.CharField(max_length=200)
    body = models.TextField(blank=True, max_length=2000)
    in_app = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    read_at = models.DateTimeField(null=True, blank=True)
    email_state = models.CharField(max_length=12, choices=EmailState.choices, default=EmailState.NOT_WANTED)
    email_claimed_at = models.DateTimeField(null=True, blank=True)
    email_attempts = models.PositiveIntegerField(default=0)
    emailed_at = models.DateTimeField(null=True, blank=True)
    email_error = models.CharField(max_length=500, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["recipient", "read_at"], name="notification_unread")]
        constraints = [
            models.UniqueConstraint(fields=["event", "recipient"], name="notification_once_per_recipient"),
            models.CheckConstraint(
                condition=Q(email_state__in=EmailState.values), name="notification_email_state_valid"
            ),
            models.CheckConstraint(
                condition=Q(in_app=True) | ~Q(email_state="not_wanted"), name="notification_goes_somewhere"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind} to {self.recipient_id}"


class Preference(models.Model):
    """A user's choice for one kind; with no row the defaults apply (in the bell and by email)."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    kind = models.CharField(max_length=20, choices=Kind.choices)
    in_app = models.BooleanField(default=True)
    email = models.BooleanField(default=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "kind"], name="notification_preference_once"),
            models.CheckConstraint(
                condition=Q(kind__in=Kind.values), name="notification_preference_kind_valid"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.user_id} {self.kind} in_app={self.in_app} email={self.email}"
