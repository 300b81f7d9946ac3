"""What the diagnosis.hooks receivers do.

A signed read (in a web request) is published after commit by task name: the request pays no query for it
and a worker decides who is told (notifications.services.fanout). By name, like the HL7 deliveries, so
this module stays free of the task module and what it imports. A study's arrival happens in the worker
that records the prediction, so that worker records the event itself, inside the prediction's
transaction under a savepoint (#17): no second message, no second transaction or audit anchor, and the
event commits with the result or not at all. If recording fails, the savepoint is rolled back, the
result still commits, and the event is published as a task after the commit (the task retries it).
"""

from __future__ import annotations

import logging
from typing import Any

from celery import current_app
from django.db import transaction

from notifications.models import Kind
from notifications.services.email import EMAIL_PRIORITY
from notifications.services.fanout import notification_event_record

logger = logging.getLogger(__name__)
EVENT_TASK = "notifications.tasks.notification_event_task"


def _publish(kind: str, study_id: Any, source_key: str = "") -> None:
    current_app.send_task(EVENT_TASK, args=[kind, str(study_id), source_key], priority=EMAIL_PRIORITY)


def notify_after_commit(*, kind: str, study_id: Any, source_key: str = "") -> None:
    """Hand the event to a worker once the transaction that made it commits (a broker fault is logged)."""
    transaction.on_commit(lambda: _publish(kind, study_id, source_key), robust=True)


def notify_read_signed(*, review: Any) -> None:
    """The requesting clinician hears of a signed read (version 1) or an amendment (any later version)."""
    kind = Kind.READ_AMENDED if review.version > 1 else Kind.READ_SIGNED
    notify_after_commit(kind=kind, study_id=review.study_id, source_key=str(review.id))


def needs_a_radiologist(*, priority: str, label: str, indeterminate: bool) -> bool:
    """An urgent study, or any with a positive or indeterminate AI result."""
    return priority == "urgent" or label == "PNEUMONIA" or indeterminate


def notify_study_arrived(*, study: Any, prediction: Any) -> None:
    """Radiologists hear of an urgent, positive or indeterminate study reaching the worklist: recorded
    with the prediction (its emails are sent after the commit)."""
    if not needs_a_radiologist(
        priority=study.priority, label=prediction.label, indeterminate=prediction.indeterminate
    ):
        return
    try:
        # notification_event_record is atomic: inside the prediction's transaction, a savepoint.
        notification_event_record(
            kind=Kind.STUDY_ARRIVED, study_id=study.id, study=study, prediction=prediction
        )
    except Exception:  # a notification fault never costs the result: the task tries again, with retries
        logger.exception("recording the arrival of study %s failed; publishing it as a task", study.id)
        notify_after_commit(kind=Kind.STUDY_ARRIVED, study_id=study.id)
