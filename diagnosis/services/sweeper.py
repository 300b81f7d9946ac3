"""The sweeper: studies stuck in queued or processing beyond a limit are enqueued again.

Claims of a worker that stopped heartbeating are released first (services.workers); the time-based rule
below is the fallback for claims that name no worker.

It never creates a prediction itself; the task's conditional claim makes a duplicate delivery harmless.
"""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from diagnosis.models import Study
from diagnosis.services.studies import study_enqueue
from diagnosis.services.workers import dead_claims_release, stale_workers_prune


def sweep_stuck_studies() -> int:
    """Re-enqueue every study queued too long or holding a stale or dead worker's claim; return how many."""
    released = dead_claims_release()
    stale_workers_prune()
    now = timezone.now()
    queued_before = now - timedelta(seconds=settings.AIRSPACE_STUCK_AFTER_SECONDS)
    stale_before = now - timedelta(seconds=settings.CELERY_TASK_TIME_LIMIT + 5)
    stuck = Study.objects.filter(
        Q(status=Study.Status.QUEUED, enqueued_at__lt=queued_before)
        | Q(status=Study.Status.PROCESSING, processing_started_at__lt=stale_before)
    ).values_list("id", flat=True)[:500]
    count = released
    for study_id in list(stuck):
        Study.objects.filter(id=study_id).update(enqueued_at=now)
        count += study_enqueue(study_id=study_id)
    return count
