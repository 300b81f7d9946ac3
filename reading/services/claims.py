"""Reading claims: a radiologist takes a completed study for reading, or gives it back.

Not to be confused with the worker's processing claim (diagnosis.services.predictions.study_processing_*):
this one lives in Study.reading_claimed_by / reading_claim_expires_at and expires on its own.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from audit.services.events import SYSTEM, AuditContext, audit_record
from diagnosis.models import Study
from portal.errors import Conflict
from portal.roles import Role, has_role
from reading.selectors import worklist_for


def reading_claim_holder(study: Study, now: datetime | None = None) -> Any:
    """Who holds an unexpired reading claim on the study (None when free or expired)."""
    now = now or timezone.now()
    expires = study.reading_claim_expires_at
    if study.reading_claimed_by_id is None or expires is None or expires <= now:
        return None
    return study.reading_claimed_by


def claim_taken(holder: Any) -> Conflict:
    """The 409 for a study someone else is reading, naming them."""
    name = holder.get_username()
    return Conflict(
        f"This study is being read by {name}.", code="claimed_by_other", fields={"holder": [name]}
    )


def _claim_state(study: Study) -> dict[str, Any] | None:
    if study.reading_claimed_by_id is None:
        return None
    return {"holder": study.reading_claimed_by.get_username(), "expires_at": study.reading_claim_expires_at}


@transaction.atomic
def reading_claim_take(*, user: Any, study: Study, context: AuditContext = SYSTEM) -> Study:
    """Claim a completed study for reading; 409 naming the holder if someone else has an unexpired claim."""
    now = timezone.now()
    # The row lock serialises concurrent claims: the second claimant sees the first one's claim.
    locked = Study.objects.select_for_update().get(id=study.id)
    if locked.status != Study.Status.COMPLETED:
        raise Conflict("Only a completed study can be claimed for reading.", code="not_claimable")
    holder = reading_claim_holder(locked, now)
    if holder is not None and holder != user:
        raise claim_taken(holder)
    before = _claim_state(locked)
    expires = now + timedelta(minutes=settings.AIRSPACE_CLAIM_MINUTES)
    Study.objects.filter(id=locked.id).update(reading_claimed_by=user, reading_claim_expires_at=expires)
    audit_record(
        actor=user,
        action="study.claim",
        object_type="study",
        object_id=locked.id,
        before=before,
        after={"holder": user.get_username(), "expires_at": expires},
        reason="renewed" if holder == user else ("expired claim taken over" if before else ""),
        context=context,
    )
    study.refresh_from_db()
    return study


@transaction.atomic
def reading_claim_release(*, user: Any, study: Study, context: AuditContext = SYSTEM) -> Study:
    """Give a reading claim back: its holder may, and an admin may force it (audited either way)."""
    locked = Study.objects.select_for_update().get(id=study.id)
    is_holder = locked.reading_claimed_by_id == user.pk
    if locked.reading_claimed_by_id is None or not (is_holder or has_role(user, Role.ADMIN)):
        raise Conflict("You do not hold a claim on this study.", code="not_claim_holder")
    before = _claim_state(locked)
    Study.objects.filter(id=locked.id).update(reading_claimed_by=None, reading_claim_expires_at=None)
    audit_record(
        actor=user,
        action="study.release",
        object_type="study",
        object_id=locked.id,
        before=before,
        after={"holder": None},
        reason="" if is_holder else "released by an admin",
        context=context,
    )
    study.refresh_from_db()
    return study


# How far down the worklist "next" looks for a study nobody else is reading.
NEXT_SCAN_LIMIT = 50


def reading_claim_next(*, user: Any, skip: Any = None, context: AuditContext = SYSTEM) -> Study | None:
    """Give back the claim on a skipped study, then claim the next free study in reading order.

    Skipping must not leave the study claimed (hidden from everyone else) until the claim expires.
    None when nothing else is waiting.
    """
    if skip is not None:
        skipped = Study.objects.filter(id=skip, reading_claimed_by=user).first()
        if skipped is not None:
            reading_claim_release(user=user, study=skipped, context=context)
    for study in worklist_for(user=user)[:NEXT_SCAN_LIMIT]:
        if skip is not None and str(study.id) == str(skip):
            continue
        try:
            return reading_claim_take(user=user, study=study, context=context)
        except Conflict:
            continue
    return None
