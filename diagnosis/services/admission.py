"""Admission control under overload (#17): uploads slow down as the queue's wait grows, nobody is refused.

The backlog is measured in time: the studies waiting for a worker, against the rate the workers finished
studies over the last RATE_WINDOW_S. When more wait than the workers finish in AIRSPACE_UPLOAD_QUEUE_SECONDS
(and more than MIN_BACKLOG wait), the answer to each upload is held back a little, PAUSE_PER_STUDY_S for each
study over that limit (at most PAUSE_MAX_S). The study is already stored and queued; only its answer waits. A
client that sends its next upload when the last is answered (a script, a modality, bench/load.py at
concurrency 16) then slows to the rate the workers analyse, so the queue, and upload->result latency, stop
growing however long the burst lasts; a web process that waits spends no CPU, and the workers get it.

Session 11's limit was a count of studies (60, about a second of the workers' work on a fast day). On a
machine half as fast the same count is twice the wait, and upload->result p99 passed 2 s; a limit in seconds
holds on any machine. Below it nothing waits. The backlog is one statement of two indexed reads, at most
every BACKLOG_READ_SECONDS per process.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import connection
from django.utils import timezone

from diagnosis.models import Study
from portal.frozen_queries import written_out

BACKLOG_READ_SECONDS = 0.2
RATE_WINDOW_S = 5.0
# Up to this many studies waiting never hold an upload back, whatever the rate (a burst starting from idle,
# before the workers have finished any): under half a second of work even at session 12's 37 studies/s.
MIN_BACKLOG = 16
PAUSE_PER_STUDY_S = 0.02
PAUSE_MAX_S = 0.25


@dataclass(frozen=True)
class Backlog:
    """Studies waiting for a worker, and studies finished per second over the last RATE_WINDOW_S."""

    queued: int
    finished_per_s: float

    def limit(self, seconds: float) -> int:
        """How many may wait before uploads are held: what the workers finish in `seconds`, at least
        MIN_BACKLOG (no finished study in the window, e.g. every worker stopped: MIN_BACKLOG)."""
        return max(MIN_BACKLOG, math.ceil(seconds * self.finished_per_s))


@dataclass
class _LastRead:
    """This process's last reading of the backlog, and when (time.monotonic)."""

    at: float = float("-inf")
    backlog: Backlog = Backlog(0, 0.0)


_last = _LastRead()


def finished_rate(finished: int, first: datetime | None, now: datetime) -> float:
    """Studies per second from `finished` studies, the first at `first`, until `now` (over 1 s at least, so
    a few studies finished a moment ago are not read as a high rate)."""
    if not finished or first is None:
        return 0.0
    return finished / max((now - first).total_seconds(), 1.0)


# Written out, one statement for both counts: it is read up to five times a second in each web process, and
# the ORM's two queries cost 1.6-2.2 CPU ms per read against 0.30-0.41 (in process on PostgreSQL, session 12).
_BACKLOG_SQL = (
    "SELECT (SELECT COUNT(*) FROM {table} WHERE {status} = %s), COUNT(*), MIN({completed_at})"
    " FROM {table} WHERE {completed_at} >= %s"
)


def _as_datetime(value: Any) -> datetime | None:
    """MIN(completed_at) as read back, through the backend's own converter where it has one (SQLite gives
    text; PostgreSQL an aware datetime already)."""
    convert = getattr(connection.ops, "convert_datetimefield_value", None)
    return convert(value, None, connection) if convert else value


def backlog_now(*, now: float | None = None) -> Backlog:
    """The backlog as last read (again once BACKLOG_READ_SECONDS have passed): a count of the waiting
    studies (status index) and of those finished (completed, failed or rejected) within RATE_WINDOW_S
    (completed_at index), in one statement."""
    now = time.monotonic() if now is None else now
    if now - _last.at >= BACKLOG_READ_SECONDS:
        wall = timezone.now()
        since = connection.ops.adapt_datetimefield_value(wall - timedelta(seconds=RATE_WINDOW_S))
        with connection.cursor() as cursor:
            cursor.execute(written_out(Study, _BACKLOG_SQL), [Study.Status.QUEUED, since])
            queued, finished, first = cursor.fetchone()
        _last.backlog = Backlog(queued, finished_rate(finished, _as_datetime(first), wall))
        _last.at = now
    return _last.backlog


def upload_pause_seconds() -> float:
    """How long this upload's answer waits: 0 below the limit (and with AIRSPACE_UPLOAD_QUEUE_SECONDS 0,
    off)."""
    seconds = settings.AIRSPACE_UPLOAD_QUEUE_SECONDS
    if seconds <= 0:
        return 0.0
    backlog = backlog_now()
    excess = backlog.queued - backlog.limit(seconds)
    return min(PAUSE_MAX_S, excess * PAUSE_PER_STUDY_S) if excess > 0 else 0.0


def upload_admitted() -> None:
    """Hold the answer to an upload just stored for as long as the backlog asks."""
    pause = upload_pause_seconds()
    if pause > 0:
        time.sleep(pause)
