"""Celery tasks of the notifications app: thin wrappers that pass ids to services."""

from __future__ import annotations

from celery import Task, shared_task
from django.db import InterfaceError, OperationalError

from notifications.services.email import email_sweep, notification_email_send
from notifications.services.fanout import escalations_record, notification_event_record

_TRANSIENT = (OperationalError, InterfaceError)


@shared_task(acks_late=True, autoretry_for=_TRANSIENT, retry_backoff=2, max_retries=5)
def notification_event_task(kind: str, study_id: str, source_key: str = "") -> int:
    """Record an event and notify its recipients (once, however often the message is delivered)."""
    return len(notification_event_record(kind=kind, study_id=study_id, source_key=source_key))


@shared_task(bind=True, acks_late=True, autoretry_for=_TRANSIENT, retry_backoff=2, max_retries=20)
def notification_email_task(self: Task, notification_id: int) -> str:
    """Send one notification's email; an SMTP fault is retried with backoff, then recorded as failed."""
    outcome = notification_email_send(notification_id=notification_id)
    if outcome.state == "retry":
        raise self.retry(countdown=outcome.delay)
    return outcome.state


@shared_task
def escalation_scan_task() -> int:
    """Tell radiologists about urgent, positive or indeterminate studies that waited past the limit."""
    return escalations_record()


@shared_task
def email_sweep_task() -> int:
    """Send again the emails whose task was lost (broker down at publish, a worker killed mid-send)."""
    return email_sweep()
