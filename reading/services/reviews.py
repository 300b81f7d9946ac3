"""Reading claims and signed reviews. A review never edits the AI prediction; amendments add versions."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import transaction

from audit.services.events import SYSTEM, AuditContext, audit_record
from diagnosis.hooks import review_signed
from diagnosis.models import Study
from diagnosis.selectors import current_prediction
from integrations.services.hl7 import hl7_delivery_schedule
from portal.errors import Conflict, DomainError
from reading.models import NON_DIAGNOSTIC_REASONS, ReadLabel, Review
from reading.services.claims import claim_taken, reading_claim_holder
from reading.services.reports import report_version_create


def review_reasons(configured: Iterable[Any] | None = None) -> list[tuple[str, str]]:
    """The override reasons offered, in display order, from AIRSPACE_REVIEW_REASONS.

    Each entry is a code, "code:Display label" or a (code, label) pair; codes are fixed on the wire
    (Review.Reason), so an unknown or repeated code is a configuration error.
    """
    entries = settings.AIRSPACE_REVIEW_REASONS if configured is None else configured
    defaults = dict(Review.Reason.choices)
    reasons: list[tuple[str, str]] = []
    for entry in entries:
        code, _, label = entry.partition(":") if isinstance(entry, str) else (entry[0], "", entry[1])
        code, label = str(code).strip(), str(label).strip()
        if code not in defaults:
            raise ImproperlyConfigured(
                f"AIRSPACE_REVIEW_REASONS: unknown reason code {code!r}; codes are {', '.join(defaults)}."
            )
        if code in dict(reasons):
            raise ImproperlyConfigured(f"AIRSPACE_REVIEW_REASONS: reason code {code!r} is listed twice.")
        reasons.append((code, label or defaults[code]))
    if not reasons:
        raise ImproperlyConfigured("AIRSPACE_REVIEW_REASONS must offer at least one reason code.")
    return reasons


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
    if final_label == ai_label:
        message = f"An override must change the AI's label ({ai_label}); to keep it, agree."
        raise DomainError(message, code="override_same_label", fields={"final_label": [message]})
    errors: dict[str, list[str]] = {}
    if final_label not in ReadLabel.values:
        errors["final_label"] = ["An override needs a final label: NORMAL, PNEUMONIA or NON_DIAGNOSTIC."]
    allowed = override_reasons(final_label)
    if reason not in allowed:
        errors["reason"] = [f"An override needs a reason, one of: {', '.join(allowed)}."]
    if errors:
        raise DomainError("The override is incomplete.", code="invalid_review", fields=errors)
    return final_label


def override_reasons(final_label: str) -> list[str]:
    """The reason codes an override to this final label accepts.

    A non-diagnostic read takes one of NON_DIAGNOSTIC_REASONS whatever the site lists; "wrong input"
    means the study cannot be read for pneumonia, so it never accompanies NORMAL or PNEUMONIA.
    """
    if final_label == ReadLabel.NON_DIAGNOSTIC:
        return list(NON_DIAGNOSTIC_REASONS)
    return [code for code, _ in review_reasons() if code != Review.Reason.WRONG_INPUT]


def _amendment_reason_check(previous: Review | None, amendment_reason: str) -> str:
    """An amendment (any version after the first) says why; a first read needs none."""
    amendment_reason = amendment_reason.strip()
    if previous is not None and not amendment_reason:
        message = "Amending a signed read needs a reason."
        raise DomainError(message, code="amendment_needs_reason", fields={"amendment_reason": [message]})
    return amendment_reason if previous is not None else ""


def _review_audit(review: Review, previous: Review | None) -> tuple[dict[str, Any] | None, dict[str, Any]]:
    """The before/after pair recorded for a signature or an amendment."""
    before = None
    if previous is not None:
        before = {
            "review_version": previous.version,
            "decision": previous.decision,
            "final_label": previous.final_label,
            "reason": previous.reason,
            "reviewer": previous.reviewer.get_username(),
        }
    after = {
        "review": str(review.id),
        "review_version": review.version,
        "decision": review.decision,
        "final_label": review.final_label,
        "reason": review.reason,
        "amendment_reason": review.amendment_reason,
        "ai_label": review.ai_label,
        "ai_probability": review.prediction.probability,
        "prediction": str(review.prediction_id),
        "model_version": review.prediction.model_version,
    }
    return before, after


@transaction.atomic
def review_submit(
    *,
    user: Any,
    study: Study,
    decision: str,
    final_label: str = "",
    reason: str = "",
    note: str = "",
    amendment_reason: str = "",
    context: AuditContext = SYSTEM,
) -> Review:
    """Sign a read (or amend the current one as a new version) and release the reading claim."""
    study = Study.objects.select_for_update().get(id=study.id)
    if study.status != Study.Status.COMPLETED:
        raise Conflict("Only a completed study can be reviewed.", code="not_reviewable")
    holder = reading_claim_holder(study)
    if holder is not None and holder != user:
        raise claim_taken(holder)
    prediction = current_prediction(study)
    label = _validate(decision, final_label, reason, prediction.label)
    previous = study.reviews.select_related("reviewer").filter(is_current=True).first()
    amendment_reason = _amendment_reason_check(previous, amendment_reason)
    if previous is not None:
        # The only change ever made to a signed review: it stops being the current version.
        Review.objects.filter(id=previous.id).update(is_current=False)
    review = Review(
        study=study,
        prediction=prediction,
        version=(previous.version + 1) if previous else 1,
        previous=previous,
        reviewer=user,
        decision=decision,
        final_label=label,
        ai_label=prediction.label,
        reason="" if decision == Review.Decision.AGREE else reason,
        note=note.strip(),
        amendment_reason=amendment_reason,
    )
    review.full_clean()
    review.save()
    report_version_create(review=review, previous=previous)
    Study.objects.filter(id=study.id).update(reading_claimed_by=None, reading_claim_expires_at=None)
    before, after = _review_audit(review, previous)
    audit_record(
        actor=user,
        action="review.amend" if previous else "review.sign",
        object_type="study",
        object_id=study.id,
        before=before,
        after=after,
        reason=review.amendment_reason or review.note,
        context=context,
    )
    event = "corrected" if previous else "final"
    hl7_delivery_schedule(study=study, event=event, source_id=review.id)  # no-op unless configured
    review_signed.send(sender=Review, review=review)  # pacs: the read SR to the PACS
    return review
