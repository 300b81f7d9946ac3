"""Celery tasks of the pacs app: thin wrappers that pass ids to services."""

from __future__ import annotations

from celery import Task, shared_task

from pacs.dispatch import inbound_study_release_send
from pacs.services.assembly import inbound_studies_overdue, inbound_study_release
from pacs.services.deliveries import dicom_deliver, dicom_retry_delay, dicom_sweep_lost
from pacs.services.inbox import inbox_sweep


@shared_task(acks_late=True, reject_on_worker_lost=True)
def inbound_study_release_task(inbound_study_id: int) -> str:
    """File a collected study once quiet; an instance that arrived meanwhile moves the release on."""
    release = inbound_study_release(inbound_study_id=inbound_study_id)
    if release.wait_seconds > 0:
        inbound_study_release_send(inbound_study_id=inbound_study_id, countdown=release.wait_seconds + 0.05)
        return "waiting"
    return "filed" if release.study is not None else (release.error or "done")


@shared_task
def inbound_study_sweep_task() -> int:
    """File collecting studies whose release task was lost, and drop inbox files no receipt committed
    (beat, every AIRSPACE_DICOM_SWEEP_SECONDS)."""
    overdue = inbound_studies_overdue()
    for inbound_study_id in overdue:
        inbound_study_release(inbound_study_id=inbound_study_id)
    inbox_sweep()
    return len(overdue)


@shared_task(bind=True, acks_late=True, reject_on_worker_lost=True, max_retries=None)
def dicom_deliver_task(self: Task, delivery_id: int) -> str:
    """Send one result object to one node; not taken yet: try again later with backoff (the row counts)."""
    outcome = dicom_deliver(delivery_id=delivery_id)
    if outcome.retry:
        raise self.retry(countdown=dicom_retry_delay(outcome.attempts))
    return outcome.status


@shared_task
def dicom_sweep_task() -> int:
    """Re-send pending DICOM deliveries whose task was lost (beat, every AIRSPACE_DICOM_SWEEP_SECONDS)."""
    return len(dicom_sweep_lost())
