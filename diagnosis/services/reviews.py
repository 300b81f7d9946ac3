"""Reading claims and signed reviews. A review never edits the AI prediction; amendments add versions."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from diagnosis.models import Label, Review, Study
from diagnosis.selectors import current_prediction
from diagnosis.services.audit import SYSTEM, AuditContext, audit_record
from diagnosis.services.errors import Conflict, DomainError


def _claim_free_or_mine(user: Any, now: Any) -> Q:
    return (
        Q(reading_claimed_by__isnull=True) | Q(reading_claim_expires_at__lt=now) | Q(reading_claimed_by=user)
    )


@transaction.atomic
def study_claim(*, user: Any, study: Study, context: AuditContext = SYSTEM) -> Study:
    """Claim a completed study for reading; 409 naming the holder if someone else has it."""
    now = timezone.now()
    expires = now + timedelta(minutes=settings.AIRSPACE_CLAIM_MINUTES)
    claimed = Study.objects.filter(
        _claim_free_or_mine(user, now), id=study.id, status=Study.Status.COMPLETED
    ).update(reading_claimed_by=user, reading_claim_expires_at=expires)
    study.refresh_from_db()
    if not claimed:
        if study.status != Study.Status.COMPLETED:
            raise Conflict("Only a completed study can be claimed for reading.", code="not_claimable")
        holder = study.reading_claimed_by.get_username() if study.reading_claimed_by else "someone else"
        raise Conflict(
            f"This study is being read by {holder}.", code="claimed_by_other", fields={"holder": [holder]}
        )
    audit_record(
        actor=user,
        action="study.claim",
        object_type="study",
        object_id=study.id,
        after={"expires_at": expires},
        context=context,
    )
    return study


@transaction.atomic
def study_release(*, user: Any, study: Study, context: AuditContext = SYSTEM) -> Study:
    """Give a reading claim back (only its holder, or an admin, may)."""
    released = Study.objects.filter(id=study.id, reading_claimed_by=user).update(
        reading_claimed_by=None, reading_claim_expires_at=None
    )
    study.refresh_from_db()
    if not released:
        raise Conflict("You do not hold a claim on this study.", code="not_claim_holder")
    audit_record(actor=user, action="study.release", object_type="study", object_id=study.id, context=context)
    return study


def _validate(decision: str, final_label: str, reason: str, ai_label: str) -> str:
    """Check the decision; return the final label (an agreement takes the AI's label)."""
    if decision == Review.Decision.AGREE:
        return ai_label
    if decision != Review.Decision.OVERRIDE:
        raise DomainError(
            "decision must be 'agree' or 'override'.",
            code="invalid_decision",
            fields={"decision": ["Must be 'agree' or 'override'."]},
        )
    errors: dict[str, list[str]] = {}
    if final_label not in Label.values:
        errors["final_label"] = ["An override needs a final label: NORMAL or PNEUMONIA."]
    if reason not in Review.Reason.values:
        errors["reason"] = [f"An override needs a reason, one of: {', '.join(Review.Reason.values)}."]
    if errors:
        raise DomainError("The override is incomplete.", code="invalid_review", fields=errors)
    return final_label


@transaction.atomic
def review_submit(
    *,
    user: Any,
    study: Study,
    decision: str,
    final_label: str = "",
    reason: str = "",
    note: str = "",
    context: AuditContext = SYSTEM,
) -> Review:
    """Sign a read (or amend the current one as a new version) and release the reading claim."""
    study = Study.objects.select_for_update().get(id=study.id)
    now = timezone.now()
    if study.status != Study.Status.COMPLETED:
        raise Conflict("Only a completed study can be reviewed.", code="not_reviewable")
    holder = study.reading_claimed_by
    if holder is not None and holder != user and study.reading_claim_expires_at > now:
        raise Conflict(
            f"This study is being read by {holder.get_username()}.",
            code="claimed_by_other",
            fields={"holder": [holder.get_username()]},
        )
    prediction = current_prediction(study)
    label = _validate(decision, final_label, reason, prediction.label)
    previous = study.reviews.filter(is_current=True).first()
    if previous is not None:
        Review.objects.filter(id=previous.id).update(is_current=False)
    review = Review(
        study=study,
        prediction=prediction,
        version=(previous.version + 1) if previous else 1,
        previous=previous,
        reviewer=user,
        decision=decision,
        final_label=label,
        reason="" if decision == Review.Decision.AGREE else reason,
        note=note.strip(),
    )
    review.full_clean()
    review.save()
    Study.objects.filter(id=study.id).update(reading_claimed_by=None, reading_claim_expires_at=None)
    audit_record(
        actor=user,
        action="review.amend" if previous else "review.sign",
        object_type="study",
        object_id=study.id,
        before={"review_version": previous.version, "final_label": previous.final_label}
        if previous
        else None,
        after={
            "review_version": review.version,
            "decision": decision,
            "final_label": label,
            "reason": review.reason,
            "ai_label": prediction.label,
            "prediction": str(prediction.id),
        },
        reason=note.strip(),
        context=context,
    )
    return review
