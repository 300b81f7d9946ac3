"""Celery tasks: thin wrappers that pass ids to services."""

from __future__ import annotations

import logging

from celery import Task, shared_task
from celery.exceptions import SoftTimeLimitExceeded
from django.db import InterfaceError, OperationalError

from diagnosis.heartbeat import worker_identity
from diagnosis.services.predictions import prediction_run, study_fail_timed_out
from diagnosis.services.sweeper import sweep_stuck_studies
from mlcore import BundleError
from modelops.services.predictor import serving_now
from modelops.services.shadow import shadow_schedule

logger = logging.getLogger(__name__)


@shared_task(
    bind=True,
    acks_late=True,
    reject_on_worker_lost=True,
    autoretry_for=(OperationalError, InterfaceError, BundleError),
    retry_backoff=2,
    retry_backoff_max=60,
    max_retries=8,
)
def prediction_run_task(self: Task, study_id: str) -> str | None:
    """Run the model on one study; a second delivery finds the row claimed or done and does nothing."""
    try:
        # A retry, or a message the broker redelivered because its worker died, may retake a claim left
        # in processing; the conditional UPDATE in prediction_record still admits one prediction only.
        redelivered = bool((self.request.delivery_info or {}).get("redelivered"))
        retake = bool(self.request.retries) or redelivered
        serving = serving_now()
        prediction = prediction_run(
            study_id=study_id,
            predictor=serving.predictor,
            retake=retake,
            worker=worker_identity(),
            operating_profile=serving.profile,
        )
    except SoftTimeLimitExceeded:
        study_fail_timed_out(study_id=study_id, hard=False)
        return None
    if prediction is None:
        return None
    shadow_schedule(prediction=prediction, shadow=serving.shadow)  # a candidate in shadow scores it apart
    return str(prediction.id)


@shared_task
def sweep_stuck_studies_task() -> int:
    """Re-enqueue studies left queued or processing too long (broker outage, dead worker)."""
    return sweep_stuck_studies()
