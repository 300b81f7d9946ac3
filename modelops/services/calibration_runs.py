""" "Calibrate from reads" on the model page as background work: the request is stored and a worker fits
the profile (the cross-validation and bootstrap take ~8 s for 150 reads), never the web request."""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

from celery import current_app
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
    transaction.on_commit(
        lambda: current_app.send_task(CALIBRATION_TASK, args=[run.pk], priority=CALIBRATION_PRIORITY)
    )
    return run


def calibration_run(*, run_id: int) -> CalibrationRun | None:
    """Fit one requested calibration (claimed pending -> running, so a redelivery does nothing)."""
    if not CalibrationRun.objects.filter(pk=run_id, status=CalibrationRun.Status.PENDING).update(
        status=CalibrationRun.Status.RUNNING
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
    run.save(update_fields=["status", "error", "profile", "finished_at"])
    return run
