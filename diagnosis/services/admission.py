"""Admission control under overload (#17): uploads slow down as the backlog deepens, nobody is refused.

When more than AIRSPACE_UPLOAD_BACKLOG studies wait for a worker, the answer to each upload is held back a
little, PAUSE_PER_STUDY_S for each study over the limit (at most PAUSE_MAX_S). The study is already stored
and queued; only its answer waits. A client that sends its next upload when the last is answered (a script,
a modality, bench/load.py at concurrency 16) then slows to the rate the workers analyse, so the queue, and
upload->result latency, stop growing however long the burst lasts; a web process that waits spends no CPU,
and the workers get it. Below the limit nothing waits. The depth is one indexed count, read at most every
DEPTH_READ_SECONDS per process.
"""

from __future__ import annotations

import time

from django.conf import settings

from diagnosis.models import Study

DEPTH_READ_SECONDS = 0.2
PAUSE_PER_STUDY_S = 0.02
PAUSE_MAX_S = 0.25

_depth_read: dict[str, float] = {"at": float("-inf"), "depth": 0}


def queued_depth(*, now: float | None = None) -> int:
    """Studies waiting for a worker, as last read (again once DEPTH_READ_SECONDS have passed)."""
    now = time.monotonic() if now is None else now
    if now - _depth_read["at"] >= DEPTH_READ_SECONDS:
        _depth_read["depth"] = Study.objects.filter(status=Study.Status.QUEUED).count()
        _depth_read["at"] = now
    return int(_depth_read["depth"])


def upload_pause_seconds(*, now: float | None = None) -> float:
    """How long this upload's answer waits: 0 below the limit (and with AIRSPACE_UPLOAD_BACKLOG 0, off)."""
    limit = settings.AIRSPACE_UPLOAD_BACKLOG
    if limit <= 0:
        return 0.0
    excess = queued_depth(now=now) - limit
    return min(PAUSE_MAX_S, excess * PAUSE_PER_STUDY_S) if excess > 0 else 0.0


def upload_admitted() -> None:
    """Hold the answer to an upload just stored for as long as the backlog asks."""
    pause = upload_pause_seconds()
    if pause > 0:
        time.sleep(pause)
