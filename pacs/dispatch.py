"""Hand pacs work to the Celery worker by task name (services never import the task modules)."""

from __future__ import annotations

import logging

from celery import current_app
from django.conf import settings

logger = logging.getLogger(__name__)

INBOUND_STUDY_RELEASE_TASK = "pacs.tasks.inbound_study_release_task"


def inbound_study_release_send(*, inbound_study_id: int, countdown: float | None = None) -> None:
    """File the collected study once quiet (after the quiet window); a lost task is caught by the sweep."""
    delay = settings.AIRSPACE_DICOM_STUDY_QUIET_SECONDS if countdown is None else countdown
    try:
        current_app.send_task(
            INBOUND_STUDY_RELEASE_TASK, args=[inbound_study_id], countdown=max(0.0, delay), retry=False
        )
    except Exception as exc:  # noqa: BLE001 - the instance is committed; the beat sweep files the study
        logger.warning("Broker unavailable, inbound study %s waits for the sweep: %s", inbound_study_id, exc)
