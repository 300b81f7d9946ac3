"""Celery tasks of the audit trail: thin wrappers over its services."""

from __future__ import annotations

from celery import shared_task

from audit.services.events import audit_anchor
from audit.services.settings_audit import settings_audit


@shared_task
def audit_anchor_task() -> int | None:
    """Record any settings change, then sign the audit chain head with the key kept outside the database."""
    settings_audit()
    anchor = audit_anchor()
    return anchor.event_id if anchor else None
