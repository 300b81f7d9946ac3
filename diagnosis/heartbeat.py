"""The worker's heartbeat: an identity per worker boot, and a thread that keeps its row fresh.

The identity is made in the main worker process before the pool forks, so pool children inherit it and
record it on every claim they take. The thread runs in the main process (it outlives a crashed pool
child, so that child's claim is retaken by the redelivered message, not released): every
AIRSPACE_HEARTBEAT_SECONDS it refreshes this worker's row and releases claims of workers that stopped.
"""

from __future__ import annotations

import logging
import os
import secrets
import socket
import threading

from django.conf import settings
from django.db import connection

logger = logging.getLogger(__name__)
_identity = ""
_stop = threading.Event()


def worker_identity() -> str:
    """This worker's identity ("" outside a worker: eager tasks and tests record no worker)."""
    return _identity


def heartbeat_once() -> bool:
    """Refresh this worker's row and release dead workers' claims; False (logged) if the database failed."""
    from diagnosis.services.workers import dead_claims_release, worker_heartbeat

    try:
        worker_heartbeat(worker=_identity, hostname=socket.gethostname(), pid=os.getpid())
        dead_claims_release()
    except Exception as exc:  # noqa: BLE001 - a database outage must not kill the heartbeat thread
        logger.warning(
            "Worker heartbeat failed (retrying in %s s): %s", settings.AIRSPACE_HEARTBEAT_SECONDS, exc
        )
        connection.close()  # reconnect on the next beat
        return False
    return True


def heartbeat_begin(nodename: str) -> str:
    """Make this boot's identity and record the first beat (before the pool forks: claims need the row)."""
    global _identity
    _identity = f"{nodename}:{os.getpid()}:{secrets.token_hex(4)}"
    _stop.clear()
    heartbeat_once()
    connection.close()  # never hand an open connection to forked pool children
    return _identity


def heartbeat_start() -> threading.Thread:
    """Beat every AIRSPACE_HEARTBEAT_SECONDS in a daemon thread until heartbeat_end()."""

    def run() -> None:
        while not _stop.wait(settings.AIRSPACE_HEARTBEAT_SECONDS):
            heartbeat_once()
        connection.close()

    thread = threading.Thread(target=run, name="airspace-heartbeat", daemon=True)
    thread.start()
    return thread


def heartbeat_end() -> None:
    """Warm shutdown: stop beating and forget this worker (its running tasks have finished by now)."""
    from diagnosis.services.workers import worker_forget

    _stop.set()
    if _identity:
        try:
            worker_forget(worker=_identity)
        except Exception as exc:  # noqa: BLE001 - shutting down anyway; the row just goes stale
            logger.warning("Could not remove the worker heartbeat row: %s", exc)
