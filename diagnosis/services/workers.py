"""Worker liveness: each Celery worker heartbeats; a processing claim whose worker stopped is released at once.

A claim records the worker that took it (Study.processing_worker); so does a queued study whose message a
worker has received but not started yet (a reservation: that message sits unacked in the broker until
the visibility timeout if the worker dies). A worker SIGKILLed (or its machine lost) stops refreshing its
WorkerHeartbeat row; within AIRSPACE_WORKER_DEAD_AFTER_SECONDS its claims and reservations are put back
to plain queued by a conditional UPDATE, audited, and re-enqueued ahead of the backlog. Exactly one
prediction per study still holds: the dead worker's late result (if it ever comes) fails its own
conditional UPDATE, and the broker's late redelivery finds the study done.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Q, QuerySet
from django.utils import timezone

from audit.services.events import audit_record
from diagnosis.models import Study, WorkerHeartbeat
from diagnosis.services.studies import study_enqueue
from portal.frozen_queries import execute_without_flush_wait, key_value, written_out

logger = logging.getLogger(__name__)
# Broker priority of a re-enqueued study: 0 is served first (Redis BRPOPs the priority lists in order),
# so a recovered study does not wait behind the queued backlog (CELERY_TASK_DEFAULT_PRIORITY is lower).
RECOVERY_PRIORITY = 0


def worker_heartbeat(*, worker: str, hostname: str, pid: int) -> None:
    """Record that `worker` is alive now (one UPDATE; the row is created on the first beat)."""
    now = timezone.now()
    if not WorkerHeartbeat.objects.filter(worker=worker).update(last_seen_at=now):
        WorkerHeartbeat.objects.update_or_create(
            worker=worker, defaults={"hostname": hostname[:255], "pid": pid, "last_seen_at": now}
        )


# Written out (#17): it runs in the worker's main process for every message, where building the ORM's
# UPDATE cost more than running it.
_RESERVE_SQL = "UPDATE {table} SET {processing_worker} = %s WHERE {id} = %s AND {status} = %s"


def worker_reserve(*, study_id: Any, worker: str) -> None:
    """Mark a queued study as received by `worker` (it has the message and will claim it next)."""
    # A reservation lost to a database crash only leaves the study plain queued: no wait for the disk.
    params = [worker, key_value(Study, study_id), Study.Status.QUEUED]
    execute_without_flush_wait(written_out(Study, _RESERVE_SQL), params)


def worker_forget(*, worker: str) -> None:
    """A worker shutting down cleanly removes its row (its claims, if any, count as dead from now)."""
    WorkerHeartbeat.objects.filter(worker=worker).delete()


def dead_before() -> datetime:
    """A worker not seen since this moment has stopped heartbeating."""
    return timezone.now() - timedelta(seconds=settings.AIRSPACE_WORKER_DEAD_AFTER_SECONDS)


def live_workers() -> QuerySet[WorkerHeartbeat, Any]:
    """Identities of the workers that heartbeated recently (a subquery, evaluated by the database)."""
    return WorkerHeartbeat.objects.filter(last_seen_at__gte=dead_before()).values("worker")


def dead_claims() -> QuerySet[Study]:
    """Claims and reservations held by a worker that stopped heartbeating (those naming no worker, and
    claims taken within the dead-after window, excluded)."""
    cutoff = dead_before()
    claimed = Q(status=Study.Status.PROCESSING, processing_started_at__lt=cutoff)
    return (
        Study.objects.filter(claimed | Q(status=Study.Status.QUEUED))
        .exclude(processing_worker="")
        .exclude(processing_worker__in=live_workers())
    )


def dead_claims_release() -> int:
    """Put every claim of a dead worker back to queued and re-enqueue it first in line; return how many."""
    released = 0
    claims = dead_claims().values_list("id", "status", "processing_worker", "processing_started_at")[:500]
    for study_id, status, worker, started in list(claims):
        if _release(study_id=study_id, status=status, worker=worker, started=started):
            released += 1
            study_enqueue(study_id=study_id, priority=RECOVERY_PRIORITY)
    if released:
        logger.warning("Released %d processing claim(s) of worker(s) that stopped heartbeating", released)
    return released


@transaction.atomic
def _release(*, study_id: Any, status: str, worker: str, started: datetime | None) -> bool:
    """Conditional UPDATE: only this exact claim or reservation (same status, worker and start) goes back
    to plain queued; audited."""
    last_seen = WorkerHeartbeat.objects.filter(worker=worker).values_list("last_seen_at", flat=True).first()
    updated = Study.objects.filter(
        id=study_id, status=status, processing_worker=worker, processing_started_at=started
    ).update(
        status=Study.Status.QUEUED,
        processing_worker="",
        processing_started_at=None,
        enqueued_at=timezone.now(),
    )
    if updated:
        seen = (
            f"last seen {last_seen.isoformat(timespec='seconds')}" if last_seen else "no heartbeat on record"
        )
        audit_record(
            actor=None,
            action="study.requeued",
            object_type="study",
            object_id=study_id,
            before={"status": status, "worker": worker},
            after={"status": Study.Status.QUEUED},
            reason=f"Worker {worker} stopped heartbeating ({seen}); its claim was released.",
        )
    return bool(updated)


def stale_workers_prune(*, older_than: timedelta = timedelta(days=1)) -> int:
    """Forget heartbeat rows of workers gone for a day (their claims were released long ago)."""
    deleted, _ = WorkerHeartbeat.objects.filter(last_seen_at__lt=timezone.now() - older_than).delete()
    return deleted
