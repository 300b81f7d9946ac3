"""Results back to the PACS: one delivery per object and outbound node, sent by a task, retried, audited.

Which studies: those that came over DICOM (C-STORE or STOW-RS) and so have a study in the PACS to file
into; an uploaded JPEG or PNG has none. Which nodes: every active outbound node, or only those of the
study's department when a node has one. A send is claimed by a conditional UPDATE (never two at once);
the object's UIDs are derived from the study and the record, so a repeat whose answer was lost files no
duplicate. Shadow predictions never reach here (diagnosis.hooks.prediction_recorded is for served ones).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from celery import current_app
from django.conf import settings
from django.db import transaction
from django.db.models import Q, QuerySet
from django.utils import timezone

from audit.services.events import SYSTEM, AuditContext, audit_record
from diagnosis.models import Prediction, Study
from pacs.dicom_objects.uids import ai_sr_uid, capture_uid, review_sr_uid
from pacs.models import DicomDelivery, DicomNode
from pacs.services.result_objects import ResultUnavailable, result_object
from pacs.services.transport import SendError, object_send
from portal.errors import Conflict
from portal.outbox import outbox_backoff, outbox_claim, outbox_sweep_lost
from reading.models import Review

DICOM_DELIVER_TASK = "pacs.tasks.dicom_deliver_task"
_FILED_SOURCES = (Study.Source.DICOM, Study.Source.STOW)


# Broker priority step 3: a finished study's results go out before the backlog of new studies (step 6)
# starts, and after a study recovered from a dead worker (step 0). Sending one object costs ~0.2 s.
DELIVERY_PRIORITY = 3


def dicom_deliver_send(delivery_id: int) -> None:
    """Publish one delivery to the worker, by task name (the task module imports this one)."""
    current_app.send_task(DICOM_DELIVER_TASK, args=[delivery_id], priority=DELIVERY_PRIORITY)


def _audit(delivery: DicomDelivery, action: str, **after: Any) -> None:
    audit_record(
        actor=None,
        action=action,
        object_type="study",
        object_id=delivery.study_id,
        after={"delivery": delivery.id, "kind": delivery.kind, "node": delivery.node_id, **after},
    )


def _outbound_nodes(study: Study) -> list[DicomNode]:
    if study.source not in _FILED_SOURCES or not study.study_instance_uid:
        return []  # checked before any query: every prediction passes here
    return list(
        DicomNode.objects.filter(active=True, outbound=True).filter(
            Q(department__isnull=True) | Q(department_id=study.department_id)
        )
    )


def _schedule(study: Study, source_id: Any, objects: Iterable[tuple[str, str]]) -> list[DicomDelivery]:
    """One pending row per (node, object) and its task after commit; an existing row is left as it is."""
    created: list[DicomDelivery] = []
    for node in _outbound_nodes(study):
        for kind, sop_instance_uid in objects:
            delivery, new = DicomDelivery.objects.get_or_create(
                node=node,
                sop_instance_uid=sop_instance_uid,
                defaults={
                    "study": study,
                    "kind": kind,
                    "source_id": source_id,
                    "next_attempt_at": timezone.now(),
                },
            )
            if new:
                _audit(delivery, "dicom.queue", sop_instance_uid=sop_instance_uid, destination=node.name)
                created.append(delivery)
    for delivery in created:
        if delivery.kind != DicomDelivery.Kind.SC:  # a capture follows its SR's first attempt
            transaction.on_commit(lambda delivery_id=delivery.id: dicom_deliver_send(delivery_id))
    return created


def _captures_follow(sr: DicomDelivery) -> None:
    """Publish the capture of the same prediction and node once its SR has been tried: the SR (the result,
    and the latency that counts) then never shares the two cores with the capture's rendering."""
    captures = DicomDelivery.objects.filter(
        node_id=sr.node_id, source_id=sr.source_id, kind=DicomDelivery.Kind.SC, attempts=0
    ).filter(status=DicomDelivery.Status.PENDING)
    for delivery_id in captures.values_list("id", flat=True):
        dicom_deliver_send(delivery_id)


def deliveries_for_prediction(*, prediction: Prediction) -> list[DicomDelivery]:
    """The AI SR first, then the heatmap capture, to every outbound node (in the caller's transaction)."""
    study = prediction.study
    uid, record = study.study_instance_uid, str(prediction.id)
    return _schedule(study, prediction.id, [("sr", ai_sr_uid(uid, record)), ("sc", capture_uid(uid, record))])


def deliveries_for_review(*, review: Review) -> list[DicomDelivery]:
    """The read SR (first read or amendment) to every outbound node (in the caller's transaction)."""
    study = review.study
    return _schedule(
        study, review.id, [("review_sr", review_sr_uid(study.study_instance_uid, str(review.id)))]
    )


@dataclass(frozen=True)
class DeliveryOutcome:
    status: str  # "delivered", "pending" (retry later), "failed" (terminal) or "skipped" (not ours)
    attempts: int = 0
    error: str = ""

    @property
    def retry(self) -> bool:
        return self.status == "pending"


def dicom_retry_delay(attempts: int) -> int:
    """Seconds before the next attempt: doubling from AIRSPACE_DICOM_RETRY_SECONDS, capped."""
    return outbox_backoff(
        attempts, base=settings.AIRSPACE_DICOM_RETRY_SECONDS, cap=settings.AIRSPACE_DICOM_RETRY_MAX_SECONDS
    )


def _stale_after() -> timedelta:
    # A claim older than the send timeout plus margin belongs to a worker that died mid-send.
    return timedelta(seconds=settings.AIRSPACE_DICOM_SEND_TIMEOUT * 2 + 30)


def _pending(**filters: Any) -> QuerySet:
    return DicomDelivery.objects.filter(status=DicomDelivery.Status.PENDING, **filters)


def _claim(delivery_id: int) -> bool:
    return outbox_claim(_pending(id=delivery_id), now=timezone.now(), stale_after=_stale_after())


def dicom_deliver(*, delivery_id: int) -> DeliveryOutcome:
    """One attempt: 1. claim the row; 2. build the object; 3. send it; 4. record delivered, retry or failed;
    5. after an AI SR, publish its capture."""
    if not _claim(delivery_id):
        return DeliveryOutcome(status="skipped")
    delivery = DicomDelivery.objects.select_related("node", "study__patient").get(id=delivery_id)
    outcome = _attempt(delivery)
    if delivery.kind == DicomDelivery.Kind.SR:
        _captures_follow(delivery)
    return outcome


def _attempt(delivery: DicomDelivery) -> DeliveryOutcome:
    try:
        data = result_object(kind=delivery.kind, source_id=delivery.source_id, study=delivery.study)
    except ResultUnavailable as exc:
        return _record_failure(delivery, str(exc), final=True)
    try:
        answer = object_send(node=delivery.node, data=data)
    except SendError as exc:
        return _record_failure(delivery, str(exc)[:1000], final=False)
    return _record_delivered(delivery, answer)


@transaction.atomic
def _record_delivered(delivery: DicomDelivery, answer: str) -> DeliveryOutcome:
    DicomDelivery.objects.filter(id=delivery.id).update(
        status=DicomDelivery.Status.DELIVERED, delivered_at=timezone.now(), claimed_at=None, last_error=""
    )
    _audit(delivery, "dicom.delivered", attempts=delivery.attempts, answer=answer)
    return DeliveryOutcome(status="delivered", attempts=delivery.attempts)


@transaction.atomic
def _record_failure(delivery: DicomDelivery, error: str, *, final: bool) -> DeliveryOutcome:
    final = final or delivery.attempts >= settings.AIRSPACE_DICOM_MAX_ATTEMPTS
    status = DicomDelivery.Status.FAILED if final else DicomDelivery.Status.PENDING
    due = timezone.now() + timedelta(seconds=dicom_retry_delay(delivery.attempts))
    DicomDelivery.objects.filter(id=delivery.id).update(
        status=status, claimed_at=None, last_error=error, next_attempt_at=due
    )
    _audit(
        delivery, "dicom.failed" if final else "dicom.attempt_failed", attempts=delivery.attempts, error=error
    )
    return DeliveryOutcome(status=str(status), attempts=delivery.attempts, error=error)


@transaction.atomic
def dicom_delivery_retry(*, delivery: DicomDelivery, actor: Any, context: AuditContext = SYSTEM) -> None:
    """An admin sends a FAILED delivery again: back to pending with fresh attempts, same instance (audited)."""
    reset = DicomDelivery.objects.filter(id=delivery.id, status=DicomDelivery.Status.FAILED).update(
        status=DicomDelivery.Status.PENDING, attempts=0, claimed_at=None, next_attempt_at=timezone.now()
    )
    if not reset:
        raise Conflict("Only a failed delivery can be retried.", code="delivery_not_failed")
    audit_record(
        actor=actor,
        action="dicom.retry",
        object_type="study",
        object_id=delivery.study_id,
        before={"status": delivery.status, "attempts": delivery.attempts, "last_error": delivery.last_error},
        after={"delivery": delivery.id, "kind": delivery.kind, "node": delivery.node_id},
        context=context,
    )
    transaction.on_commit(lambda: dicom_deliver_send(delivery.id))


def dicom_sweep_lost(*, now: datetime | None = None) -> list[int]:
    """Send again every pending delivery whose task was lost (portal.outbox)."""
    return outbox_sweep_lost(
        _pending(),
        now=now or timezone.now(),
        grace=timedelta(seconds=settings.AIRSPACE_DICOM_SWEEP_GRACE_SECONDS),
        stale_after=_stale_after(),
        batch=settings.AIRSPACE_DICOM_SWEEP_BATCH,
        send=dicom_deliver_send,
    )
