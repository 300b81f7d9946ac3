"""Celery tasks of model operations: thin wrappers that pass ids to services."""

from __future__ import annotations

from celery import shared_task
from django.db import InterfaceError, OperationalError

from modelops.services.calibration_runs import CALIBRATION_TIME_LIMIT, calibration_run, calibration_sweep
from modelops.services.drift import drift_check
from modelops.services.shadow import shadow_score


@shared_task(acks_late=True, autoretry_for=(OperationalError, InterfaceError), retry_backoff=2, max_retries=5)
def shadow_score_task(shadow_id: int, prediction_id: str) -> bool:
    """Score one served prediction's study with the running shadow candidate; a redelivery does nothing."""
    return shadow_score(shadow_id=shadow_id, prediction_id=prediction_id) is not None


@shared_task
def drift_check_task() -> int:
    """Raise the drift alarms the live figures call for; how many were raised."""
    return len(drift_check())


@shared_task(
    acks_late=True,
    autoretry_for=(OperationalError, InterfaceError),
    retry_backoff=2,
    max_retries=5,
    soft_time_limit=CALIBRATION_TIME_LIMIT - 30,
    time_limit=CALIBRATION_TIME_LIMIT,
)
def calibration_run_task(run_id: int) -> bool:
    """Fit an admin's "Calibrate from reads" request; a redelivery finds it claimed and does nothing."""
    return calibration_run(run_id=run_id) is not None


@shared_task
def calibration_sweep_task() -> int:
    """Re-send calibration runs whose task was lost, fail those whose worker died; how many were touched."""
    swept = calibration_sweep()
    return len(swept.requeued) + len(swept.failed)
