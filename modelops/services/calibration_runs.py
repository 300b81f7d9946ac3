""" "Calibrate from reads" on the model page as background work: the request is stored and a worker fits
the profile (the cross-validation and bootstrap take ~8 s for 150 reads), never the web request."""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from typing import Any

from celery import current_app
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from audit.services.events import SYSTEM, AuditContext, audit_record
from mlcore import BundleError
from mlcore.site_calibration import FitSettings
from modelops.models import CalibrationRun
from modelops.selectors import active_bundle
from modelops.services.calibration import reads_from_reviews, site_calibration_propose
from portal.errors import DomainError

logger = logging.getLogger(__name__)
CALIBRATION_TASK = "modelops.tasks.calibration_run_task"
# Redis serves priority steps 0, 3, 6, 9 in that order: studies (6) go before a calibration.
CALIBRATION_PRIORITY = 9
# The task's hard time limit: a run claimed longer ago than this has no live worker fitting it.
CALIBRATION_TIME_LIMIT = 330
WORKER_STOPPED = "The worker stopped while fitting; request again."


def _send(run_id: int) -> None:
    """Have a worker fit the run (called after commit)."""
    current_app.send_task(CALIBRATION_TASK, args=[run_id], priority=CALIBRATION_PRIORITY)


@transaction.atomic
def calibration_request(
    *, user: Any, since: dt.date | None, target_sensitivity: float, context: AuditContext = SYSTEM
) -> CalibrationRun:
    """Store the request (audited) and have a worker fit it once the transaction commits."""
    run = CalibrationRun(
        model_version=active_bundle().version,
        since=since,
        target_sensitivity=target_sensitivity,
        requested_by=user,
    )
    run.full_clean()
    run.save()
    audit_record(
        actor=user,
        action="calibration.request",
        object_type="calibration_run",
        object_id=run.pk,
        after={"model_version": run.model_version, "since": str(since or ""), "target": target_sensitivity},
        context=context,
    )
    transaction.on_commit(lambda: _send(run.pk))
    return run


def calibration_run(*, run_id: int) -> CalibrationRun | None:
    """Fit one requested calibration, once: the run is claimed pending -> running by one conditional UPDATE,
    so a redelivery, or the sweep's re-sent message beside a late original, finds it taken and does nothing."""
    if not CalibrationRun.objects.filter(pk=run_id, status=CalibrationRun.Status.PENDING).update(
        status=CalibrationRun.Status.RUNNING, started_at=timezone.now()
    ):
        return None
    run = CalibrationRun.objects.select_related("requested_by").get(pk=run_id)
    try:
        bundle = active_bundle()
        if bundle.version != run.model_version:
            raise DomainError(f"The served model is now {bundle.version}; request the calibration again.")
        profile = site_calibration_propose(
            bundle=bundle,
            reads=reads_from_reviews(bundle=bundle, since=run.since),
            settings=FitSettings(target_sensitivity=run.target_sensitivity),
            user=run.requested_by,
        )
    except (DomainError, BundleError) as exc:
        run.status, run.error = CalibrationRun.Status.FAILED, getattr(exc, "message", str(exc))
    except Exception as exc:  # the page must not wait forever on an unexpected fault
        logger.exception("Calibration run %s failed", run_id)
        run.status, run.error = CalibrationRun.Status.FAILED, f"Unexpected error: {exc.__class__.__name__}"
    else:
        run.status, run.profile = CalibrationRun.Status.DONE, profile
    run.finished_at = timezone.now()
    # Only while still ours: a run the sweep already failed as stale keeps that outcome.
    if not CalibrationRun.objects.filter(pk=run_id, status=CalibrationRun.Status.RUNNING).update(
        status=run.status, error=run.error, profile=run.profile, finished_at=run.finished_at
    ):
        logger.warning("Calibration run %s was failed by the sweep while it was fitting", run_id)
        return None
    return run


@dataclass(frozen=True)
class CalibrationSweep:
    requeued: list[int]
    failed: list[int]


def _requeue(run_id: int, *, now: dt.datetime, cutoff: dt.datetime) -> bool:
    """Send a lost pending run's task again (audited); not found again before another grace period."""
    with transaction.atomic():
        if not CalibrationRun.objects.filter(
            pk=run_id, status=CalibrationRun.Status.PENDING, queued_at__lt=cutoff
        ).update(queued_at=now):
            return False
        audit_record(
            actor=None,
            action="calibration.requeue",
            object_type="calibration_run",
            object_id=run_id,
            after={"status": CalibrationRun.Status.PENDING, "queued_at": now.isoformat()},
            reason="its task was not taken within the grace period (the message was lost)",
        )
        transaction.on_commit(lambda: _send(run_id))
    return True


def _fail_stale(run_id: int, *, now: dt.datetime, cutoff: dt.datetime) -> bool:
    """Fail a run claimed longer ago than the limit (its worker died), with its audit event."""
    with transaction.atomic():
        if not CalibrationRun.objects.filter(
            pk=run_id, status=CalibrationRun.Status.RUNNING, started_at__lt=cutoff
        ).update(status=CalibrationRun.Status.FAILED, error=WORKER_STOPPED, finished_at=now):
            return False
        audit_record(
            actor=None,
            action="calibration.fail",
            object_type="calibration_run",
            object_id=run_id,
            before={"status": CalibrationRun.Status.RUNNING},
            after={"status": CalibrationRun.Status.FAILED, "error": WORKER_STOPPED},
            reason="running past the time limit",
        )
    return True


def calibration_sweep(*, now: dt.datetime | None = None) -> CalibrationSweep:
    """Re-send pending runs whose task was lost and fail running runs whose worker died (beat)."""
    now = now or timezone.now()
    lost_before = now - dt.timedelta(seconds=settings.AIRSPACE_CALIBRATION_REQUEUE_AFTER_SECONDS)
    # Never sooner than the hard limit: a live worker's fit would be failed under it.
    stale_after = max(settings.AIRSPACE_CALIBRATION_STALE_AFTER_SECONDS, CALIBRATION_TIME_LIMIT + 5)
    stale_before = now - dt.timedelta(seconds=stale_after)
    unfinished = CalibrationRun.objects.order_by("id")
    lost = unfinished.filter(status=CalibrationRun.Status.PENDING, queued_at__lt=lost_before)
    stale = unfinished.filter(status=CalibrationRun.Status.RUNNING, started_at__lt=stale_before)
    return CalibrationSweep(
        requeued=[i for i in lost.values_list("id", flat=True) if _requeue(i, now=now, cutoff=lost_before)],
        failed=[
            i for i in stale.values_list("id", flat=True) if _fail_stale(i, now=now, cutoff=stale_before)
        ],
    )
