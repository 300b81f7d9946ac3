"""What the diagnosis.hooks receivers do: publish, after commit, by task name.

Nothing here reads or writes a row, so signing a read or recording a prediction pays no query for it; a
worker decides who is told (notifications.services.fanout). By name, like the HL7 deliveries, so this
module stays free of the task module and what it imports. Event tasks go at the emails' broker priority
(9): under a backlog every waiting study is analysed first, then the radiologists are told (#17: recording
the event inside the prediction's transaction cost less CPU in all, but slowed results during a burst).
"""

from __future__ import annotations

import logging
from typing import Any

from celery import current_app
from django.db import transaction

from notifications.models import Kind
from notifications.services.email import EMAIL_PRIORITY

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
    """Radiologists hear of an urgent, positive or indeterminate study reaching the worklist: a task after
    the commit, at the emails' priority, so it runs after every waiting study."""
    if needs_a_radiologist(
        priority=study.priority, label=prediction.label, indeterminate=prediction.indeterminate
    ):
        notify_after_commit(kind=Kind.STUDY_ARRIVED, study_id=study.id)
