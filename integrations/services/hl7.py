"""HL7 v2 result deliveries: schedule one per study event, send it over MLLP, record and audit the outcome.

Delivery is at least once: a message whose ACK was lost is sent again with the same MSH-10, which the
receiver uses to drop the repeat. A send is claimed by a conditional UPDATE, so two workers never send the
same delivery at once.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from celery import current_app
from django.conf import settings
from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from audit.services.events import SYSTEM, AuditContext, audit_record
from diagnosis.models import Study
from integrations.models import Hl7Delivery
from integrations.services.hl7_messages import oru_message
from integrations.services.mllp import MllpError, mllp_send
from portal.errors import Conflict
from portal.outbox import outbox_backoff, outbox_claim, outbox_sweep_lost

HL7_DELIVER_TASK = "integrations.tasks.hl7_deliver_task"


def hl7_deliver_send(delivery_id: int) -> None:
    """Publish one delivery to the worker, by task name."""
    current_app.send_task(HL7_DELIVER_TASK, args=[delivery_id])


def hl7_enabled() -> bool:
    """HL7 output is on only when a receiving host is configured."""
    return bool(settings.AIRSPACE_HL7_HOST)


def _audit(delivery: Hl7Delivery, action: str, **after: Any) -> None:
    audit_record(
        actor=None,
        action=action,
        object_type="study",
        object_id=delivery.study_id,
        after={"delivery": delivery.id, "event": delivery.event, "control_id": delivery.control_id, **after},
    )


def hl7_delivery_schedule(*, study: Study, event: str, source_id: Any) -> Hl7Delivery | None:
    """Record that this study event must reach the EHR and send it after commit (None when HL7 is off)."""
    # Checked before any transaction: every prediction calls this, and HL7 off must cost no savepoint.
    if not hl7_enabled():
        return None
    with transaction.atomic():
        return _delivery_record(study=study, event=event, source_id=source_id)


def _delivery_record(*, study: Study, event: str, source_id: Any) -> Hl7Delivery:
    delivery, created = Hl7Delivery.objects.get_or_create(
        study_id=study.id,
        event=event,
        source_id=source_id,
        defaults={"control_id": uuid.uuid4().hex[:20]},
    )
    if created:
        _audit(delivery, "hl7.queue", source=str(source_id))
        # By name: the task module imports this one, so importing it here would close a cycle.
        transaction.on_commit(lambda: hl7_deliver_send(delivery.id))
    return delivery


@dataclass(frozen=True)
class DeliveryOutcome:
    state: str  # "delivered", "pending" (retry later), "failed" (out of attempts) or "skipped" (not ours)
    attempts: int = 0
    error: str = ""

    @property
    def retry(self) -> bool:
        return self.state == "pending"


def hl7_retry_delay(attempts: int) -> int:
    """Seconds before the next attempt: doubling from AIRSPACE_HL7_RETRY_SECONDS, capped."""
    return outbox_backoff(
        attempts, base=settings.AIRSPACE_HL7_RETRY_SECONDS, cap=settings.AIRSPACE_HL7_RETRY_MAX_SECONDS
    )


def _stale_after() -> timedelta:
    # A claim older than the send timeout plus margin belongs to a worker that died mid-send.
    return timedelta(seconds=settings.AIRSPACE_HL7_TIMEOUT * 2 + 30)


def _pending(**filters: Any) -> QuerySet:
    return Hl7Delivery.objects.filter(state=Hl7Delivery.State.PENDING, **filters)


def _claim(delivery_id: int) -> bool:
    return outbox_claim(_pending(id=delivery_id), now=timezone.now(), stale_after=_stale_after())


def hl7_deliver(*, delivery_id: int) -> DeliveryOutcome:
    """One attempt: 1. claim the row; 2. build and send the ORU; 3. record delivered, retry or failed."""
    if not _claim(delivery_id):
        return DeliveryOutcome(state="skipped")
    delivery = Hl7Delivery.objects.get(id=delivery_id)
    try:
        message = oru_message(delivery)
        mllp_send(
            host=settings.AIRSPACE_HL7_HOST,
            port=settings.AIRSPACE_HL7_PORT,
            er7=message.to_er7(),
            control_id=delivery.control_id,
            timeout=settings.AIRSPACE_HL7_TIMEOUT,
        )
    except MllpError as exc:
        return _record_failure(delivery, str(exc)[:1000])
    return _record_delivered(delivery)


@transaction.atomic
def _record_delivered(delivery: Hl7Delivery) -> DeliveryOutcome:
    Hl7Delivery.objects.filter(id=delivery.id).update(
        state=Hl7Delivery.State.DELIVERED, delivered_at=timezone.now(), claimed_at=None, last_error=""
    )
    _audit(delivery, "hl7.delivered", attempts=delivery.attempts)
    return DeliveryOutcome(state="delivered", attempts=delivery.attempts)


@transaction.atomic
def _record_failure(delivery: Hl7Delivery, error: str) -> DeliveryOutcome:
    final = delivery.attempts >= settings.AIRSPACE_HL7_MAX_ATTEMPTS
    state = Hl7Delivery.State.FAILED if final else Hl7Delivery.State.PENDING
    next_attempt_at = timezone.now() + timedelta(seconds=hl7_retry_delay(delivery.attempts))
    Hl7Delivery.objects.filter(id=delivery.id).update(
        state=state, claimed_at=None, last_error=error, next_attempt_at=next_attempt_at
    )
    _audit(delivery, "hl7.failed" if final else "hl7.attempt_failed", attempts=delivery.attempts, error=error)
    return DeliveryOutcome(state=str(state), attempts=delivery.attempts, error=error)


@transaction.atomic
def hl7_delivery_retry(*, delivery: Hl7Delivery, actor: Any, context: AuditContext = SYSTEM) -> None:
    """An admin sends a FAILED delivery again: back to pending with fresh attempts, same MSH-10 (audited)."""
    reset = Hl7Delivery.objects.filter(id=delivery.id, state=Hl7Delivery.State.FAILED).update(
        state=Hl7Delivery.State.PENDING, attempts=0, claimed_at=None, next_attempt_at=timezone.now()
    )
    if not reset:
        raise Conflict("Only a failed delivery can be retried.", code="delivery_not_failed")
    audit_record(
        actor=actor,
        action="hl7.retry",
        object_type="study",
        object_id=delivery.study_id,
        before={"state": delivery.state, "attempts": delivery.attempts, "last_error": delivery.last_error},
        after={"delivery": delivery.id, "event": delivery.event, "control_id": delivery.control_id},
        context=context,
    )
    transaction.on_commit(lambda: hl7_deliver_send(delivery.id))


def hl7_sweep_lost(*, now: datetime | None = None) -> list[int]:
    """Send again every pending delivery whose task was lost (portal.outbox); nothing while HL7 is off.

    A repeat that does reach a worker is dropped by the claim, and by the receiver through the unchanged
    MSH-10.
    """
    if not hl7_enabled():
        return []
    return outbox_sweep_lost(
        _pending(),
        now=now or timezone.now(),
        grace=timedelta(seconds=settings.AIRSPACE_HL7_SWEEP_GRACE_SECONDS),
        stale_after=_stale_after(),
        batch=settings.AIRSPACE_HL7_SWEEP_BATCH,
        send=hl7_deliver_send,
    )
