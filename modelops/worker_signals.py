"""Celery worker lifecycle: verify the bundle before forking, load the model in each child after."""

from __future__ import annotations

import gc
import logging
from typing import Any

from celery.exceptions import TimeLimitExceeded
from celery.signals import (
    task_failure,
    task_postrun,
    task_prerun,
    task_received,
    worker_init,
    worker_process_init,
    worker_ready,
    worker_shutdown,
)
from django.conf import settings
from django.db import DatabaseError, close_old_connections, connections

from mlcore import BundleError
from mlcore.bundle import load_bundle
from modelops.selectors import active_bundle

logger = logging.getLogger(__name__)


@worker_init.connect
def verify_model_bundle(**_: Any) -> None:
    """Refuse to start a worker on a missing or corrupt bundle, saying why (no TensorFlow here)."""
    try:
        # Weights and the serving artifacts (LiteRT model, head, gate) are all checked against their sha256.
        try:
            bundle = active_bundle(verify=True)
        except DatabaseError as exc:  # which bundle was promoted is unknown: check the deployed default
            logger.warning("Database unreachable at worker start (%s): verifying the default bundle", exc)
            bundle = load_bundle(settings.AIRSPACE_MODEL_BUNDLE)
    except BundleError as exc:
        logger.critical("Worker refuses to start: %s", exc)
        raise SystemExit(f"Airspace worker refuses to start: {exc}") from exc
    finally:
        connections.close_all()  # never hand a connection opened before the fork to the pool children
    logger.info("Model bundle %s verified", bundle.version)


@worker_init.connect
def begin_heartbeat(sender: Any = None, **_: Any) -> None:
    """Give this worker boot its identity and first beat, before the pool children fork."""
    from diagnosis.heartbeat import heartbeat_begin

    identity = heartbeat_begin(getattr(sender, "hostname", "") or "worker")
    logger.info("Worker heartbeat identity %s", identity)


@worker_ready.connect
def start_heartbeat(**_: Any) -> None:
    """Keep beating (and releasing dead workers' claims) while the worker consumes."""
    from diagnosis.heartbeat import heartbeat_start

    heartbeat_start()


@task_received.connect
def reserve_study(request: Any = None, **_: Any) -> None:
    """The main process got a study's message: record which worker holds it until a child claims it, so
    a worker killed in between has it re-enqueued in seconds, not after the broker's visibility timeout."""
    if getattr(request, "task_name", "") != "diagnosis.tasks.prediction_run_task" or not request.args:
        return
    from diagnosis.heartbeat import worker_identity
    from diagnosis.services.workers import worker_reserve

    try:
        worker_reserve(study_id=request.args[0], worker=worker_identity())
    except Exception as exc:  # noqa: BLE001 - a database hiccup must not stop the consumer; the claim follows
        logger.warning("Could not record the reservation of study %s: %s", request.args[0], exc)


@worker_shutdown.connect
def end_heartbeat(**_: Any) -> None:
    """Warm shutdown: running tasks are done, so this worker's row can go."""
    from diagnosis.heartbeat import heartbeat_end

    heartbeat_end()


@worker_process_init.connect
def warm_model(**_: Any) -> None:
    """Load and warm the model in the pool child, so the first study is not slow."""
    from modelops.services.predictor import get_predictor

    try:
        get_predictor()
    except Exception:  # the task will retry the load and keep studies waiting
        logger.exception("Model warm-up failed in worker process")
    # The model, Django and Celery stay for the life of the process: keep them out of the garbage
    # collector's full passes (as portal/wsgi.py does for gunicorn).
    gc.freeze()


@task_prerun.connect
@task_postrun.connect
def drop_stale_connections(**_: Any) -> None:
    """What Django does around each request: close connections that broke or outlived CONN_MAX_AGE.

    With CELERY_DB_REUSE_MAX set Celery keeps connections between tasks; this keeps a database restart
    from failing the next task on a dead connection (the health check reconnects it first).
    """
    close_old_connections()


@task_failure.connect
def fail_study_on_hard_time_limit(
    sender: Any = None, exception: BaseException | None = None, args: Any = None, **_: Any
) -> None:
    """The pool killed a task at its hard limit: give the study a clear failed state, not a stale claim."""
    if not isinstance(exception, TimeLimitExceeded) or not args:
        return
    if getattr(sender, "name", "") != "diagnosis.tasks.prediction_run_task":
        return
    from diagnosis.services.predictions import study_fail_timed_out

    study_fail_timed_out(study_id=args[0], hard=True)
