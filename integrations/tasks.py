"""Celery tasks of the integrations app: thin wrappers that pass ids to services."""

from __future__ import annotations

from celery import Task, shared_task

from integrations.services.hl7 import hl7_deliver, hl7_retry_delay, hl7_sweep_lost


@shared_task(bind=True, acks_late=True, reject_on_worker_lost=True, max_retries=None)
def hl7_deliver_task(self: Task, delivery_id: int) -> str:
    """Send one HL7 delivery; not ACKed yet: try again later with backoff (the row counts the attempts)."""
    outcome = hl7_deliver(delivery_id=delivery_id)
    if outcome.retry:
        raise self.retry(countdown=hl7_retry_delay(outcome.attempts))
    return outcome.state


@shared_task
def hl7_sweep_task() -> int:
    """Re-send pending HL7 deliveries whose task was lost (beat, every AIRSPACE_HL7_SWEEP_SECONDS)."""
    return len(hl7_sweep_lost())
