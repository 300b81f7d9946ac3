"""The audit trail: append-only, hash-chained events and the signed anchors over its head."""

from __future__ import annotations

import json

from django.conf import settings
from django.db import models


class AuditEvent(models.Model):
    """Append-only, hash-chained record of who did what to which record, when and from where."""

    id = models.BigAutoField(primary_key=True)
    created_at = models.DateTimeField(db_index=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    actor_username = models.CharField(max_length=150, blank=True)
    action = models.CharField(max_length=64, db_index=True)
    object_type = models.CharField(max_length=64, blank=True)
    object_id = models.CharField(max_length=64, blank=True, db_index=True)
    before = models.JSONField(null=True, blank=True)
    after = models.JSONField(null=True, blank=True)
    reason = models.TextField(blank=True)
    ip = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.CharField(max_length=512, blank=True)
    prev_hash = models.CharField(max_length=64)
    hash = models.CharField(max_length=64, unique=True)
    # The event's place in the chain (1, 2, 3...), assigned under the chain lock: a gap is a missing event.
    seq = models.BigIntegerField(null=True, blank=True, unique=True, editable=False)

    class Meta:
        db_table = "diagnosis_auditevent"  # the table predates the audit app; its rows stay where they are
        ordering = ["-id"]

    def __str__(self) -> str:
        return f"#{self.id} {self.action} by {self.actor_username}"

    @property
    def before_json(self) -> str:
        """`before` as JSON text ("" when empty): what the audit page and CSV show, never a Python repr."""
        return details_json(self.before)

    @property
    def after_json(self) -> str:
        """`after` as JSON text ("" when empty)."""
        return details_json(self.after)


class AuditAnchor(models.Model):
    """An HMAC signature over the chain head, made with a key that never enters the database."""

    id = models.BigAutoField(primary_key=True)
    event = models.ForeignKey(AuditEvent, on_delete=models.PROTECT, related_name="+")
    head_hash = models.CharField(max_length=64)
    signature = models.CharField(max_length=64)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        db_table = "diagnosis_auditanchor"
        ordering = ["-id"]

    def __str__(self) -> str:
        return f"anchor at event {self.event_id}"


def details_json(value: object) -> str:
    """Audit details as compact, key-sorted JSON that any tool can parse back ("" for none)."""
    if value is None or value == {}:
        return ""
    return json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
