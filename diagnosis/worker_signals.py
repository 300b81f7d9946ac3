"""Celery worker lifecycle: verify the bundle before forking, load the model in each child after."""

from __future__ import annotations

import logging
from typing import Any

from celery.signals import worker_init, worker_process_init
from django.conf import settings

from mlcore import BundleError
from mlcore.bundle import verify_bundle

logger = logging.getLogger(__name__)


@worker_init.connect
def verify_model_bundle(**_: Any) -> None:
    """Refuse to start a worker on a missing or corrupt bundle, saying why (no TensorFlow here)."""
    try:
        metadata = verify_bundle(settings.AIRSPACE_MODEL_BUNDLE)
    except BundleError as exc:
        logger.critical("Worker refuses to start: %s", exc)
        raise SystemExit(f"Airspace worker refuses to start: {exc}") from exc
    logger.info("Model bundle %s verified", metadata.get("version"))


@worker_process_init.connect
def warm_model(**_: Any) -> None:
    """Load and warm the model in the pool child, so the first study is not slow."""
    from diagnosis.runtime import get_predictor

    try:
        get_predictor()
    except Exception:  # the task will retry the load and keep studies waiting
        logger.exception("Model warm-up failed in worker process")
