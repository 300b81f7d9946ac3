"""Outbound deliveries (HL7 to the EHR, DICOM objects to the PACS): the claim, backoff and lost-task sweep
they share. A delivery row has `attempts`, `claimed_at` and `next_attempt_at`; each app keeps its own
model, states, sending and audit, and passes its pending rows here.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from django.db.models import F, Q, QuerySet

# Slack between the due time a failed attempt records and the countdown its task is retried with.
DUE_SLACK = timedelta(seconds=1)


def outbox_backoff(attempts: int, *, base: int, cap: int) -> int:
    """Seconds before the next attempt: doubling from `base` after each failed attempt, at most `cap`."""
    return int(min(cap, base * 2 ** max(0, attempts - 1)))


def outbox_claim(pending: QuerySet, *, now: datetime, stale_after: timedelta) -> bool:
    """Take a pending row whose attempt is due and that no live sender holds (one conditional UPDATE).

    A claim older than `stale_after` belongs to a worker that died mid-send. A copy of a retry message
    that Redis delivered again (after its visibility timeout, shorter than the backoff cap) runs before
    the due time and is dropped, so a long outage never forks a second retry chain.
    """
    return bool(
        pending.filter(Q(claimed_at__isnull=True) | Q(claimed_at__lt=now - stale_after))
        .filter(Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now + DUE_SLACK))
        .update(claimed_at=now, attempts=F("attempts") + 1)
    )


def outbox_sweep_lost(
    pending: QuerySet,
    *,
    now: datetime,
    grace: timedelta,
    stale_after: timedelta,
    batch: int,
    send: Callable[[int], None],
) -> list[int]:
    """Send again every pending row whose task is overdue by `grace` (its task was lost).

    A live task always runs by `next_attempt_at` (its countdown), so only a lost one is found; a claim
    still inside `stale_after` is left alone. Each found row is due now (its new task may claim it) and is
    not found again before the grace period has passed once more, so a broker that is still down is not
    flooded on every sweep.
    """
    found = list(
        pending.filter(next_attempt_at__lt=now - grace)
        .filter(Q(claimed_at__isnull=True) | Q(claimed_at__lt=now - stale_after))
        .order_by("id")
        .values_list("id", flat=True)[:batch]
    )
    for row_id in found:
        pending.model.objects.filter(id=row_id).update(next_attempt_at=now)
        send(row_id)
    return found
