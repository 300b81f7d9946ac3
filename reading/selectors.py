"""Reading reads: the worklist in reading order, its badges, and a study's review history."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db.models import (
    BooleanField,
    Case,
    Count,
    Exists,
    F,
    FloatField,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Value,
    When,
)
from django.db.models.lookups import Exact
from django.http import Http404
from django.utils import timezone

from diagnosis.models import Label, Prediction, Study
from diagnosis.selectors import with_current
from diagnosis.services.scope import visible_studies
from portal.query_params import bool_param, choice_param, int_param
from reading.models import ReadLabel, Report, Review


def review_history(study: Study) -> list[Review]:
    """All review versions, newest first."""
    listed = getattr(study, "review_list", None)
    return list(listed) if listed is not None else list(study.reviews.order_by("-version"))


def current_review(study: Study) -> Review | None:
    """The current (latest) review version."""
    history = review_history(study)
    return next((r for r in history if r.is_current), None)


@dataclass(frozen=True)
class FinalRead:
    """The radiologist's signed read that a study's pages and API lead with once it exists."""

    label: str
    decision: str
    reason: str
    reader: str
    signed_at: datetime
    version: int

    @property
    def label_display(self) -> str:
        """The label as a reader says it ("Non-diagnostic")."""
        return ReadLabel(self.label).label

    @property
    def reason_display(self) -> str:
        """The reason in words ("" when none)."""
        return Review.Reason(self.reason).label if self.reason else ""

    def as_dict(self) -> dict[str, Any]:
        """The API's `final_read` object."""
        return {
            "label": self.label,
            "decision": self.decision,
            "reason": self.reason,
            "reader": self.reader,
            "signed_at": self.signed_at,
            "version": self.version,
        }


def final_read_for(study: Study) -> FinalRead | None:
    """The study's current signed read, or None before any (no query when the reviews are prefetched)."""
    review = current_review(study)
    if review is None:
        return None
    return FinalRead(
        label=review.final_label,
        decision=review.decision,
        reason=review.reason,
        reader=review.reviewer.get_username(),
        signed_at=review.signed_at,
        version=review.version,
    )


WORKLIST_ORDERINGS = {
    # 1. escalated (waiting past the limit) first, against starvation; 2. urgent; 3. AI priority,
    # indeterminate counting as high; 4. longest waiting.
    "priority": ["-escalated", "-urgent", F("ai_rank").desc(nulls_last=True), "created_at", "id"],
    "waiting": ["created_at", "id"],
    "newest": ["-created_at", "-id"],
    "probability": [F("ai_rank").desc(nulls_last=True), "created_at", "id"],
}


@dataclass(frozen=True)
class WorklistFilters:
    priority: str = ""
    ai_label: str = ""
    indeterminate: bool | None = None
    escalated: bool | None = None
    min_age_minutes: int | None = None
    max_age_minutes: int | None = None
    claim: str = ""  # "mine", "free" (unclaimed or expired) or "taken" (someone else's live claim)
    ordering: str = "priority"


def _escalate_before(now: Any) -> Any:
    return now - timedelta(minutes=settings.AIRSPACE_ESCALATE_AFTER_MINUTES)


def _live_claim(now: Any) -> Q:
    return Q(reading_claimed_by__isnull=False, reading_claim_expires_at__gt=now)


def _awaiting_review(user: Any) -> QuerySet[Study]:
    return (
        visible_studies(user)
        .filter(status=Study.Status.COMPLETED)
        .exclude(Exists(Review.objects.filter(study=OuterRef("pk"))))
    )


def _worklist_base(user: Any, now: Any) -> QuerySet[Study]:
    """Completed, unreviewed, visible studies annotated with AI result, escalation and claim state."""
    escalate_before = _escalate_before(now)
    latest = Prediction.objects.filter(study=OuterRef("pk")).order_by("-created_at")
    live_claim = _live_claim(now)
    return _awaiting_review(user).annotate(
        ai_probability=Subquery(latest.values("probability")[:1], output_field=FloatField()),
        ai_label=Subquery(latest.values("label")[:1]),
        ai_indeterminate=Subquery(latest.values("indeterminate")[:1], output_field=BooleanField()),
        escalated=Case(
            When(created_at__lt=escalate_before, then=Value(True)),
            default=Value(False),
            output_field=BooleanField(),
        ),
        urgent=Case(When(priority=Study.Priority.URGENT, then=Value(1)), default=Value(0)),
        ai_rank=Case(
            When(ai_indeterminate=True, then=Value(2.0)),
            default=F("ai_probability"),
            output_field=FloatField(),
        ),
        claim_active=Case(
            When(live_claim, then=Value(True)), default=Value(False), output_field=BooleanField()
        ),
    )


def worklist_for(*, user: Any, filters: WorklistFilters | None = None, now: Any = None) -> QuerySet[Study]:
    """Completed, unreviewed studies in reading order (see WORKLIST_ORDERINGS; default "priority").

    An expired reading claim counts as no claim: the study shows as free and anyone may take it.
    """
    filters = filters or WorklistFilters()
    now = now or timezone.now()
    queryset = _apply_worklist_filters(_worklist_base(user, now), filters, user, now)
    order = WORKLIST_ORDERINGS.get(filters.ordering, WORKLIST_ORDERINGS["priority"])
    return with_current(queryset.order_by(*order))


def worklist_counts(*, user: Any, now: Any = None) -> dict[str, int]:
    """Badges for the whole worklist (unfiltered): total, urgent, escalated, indeterminate, claims."""
    now = now or timezone.now()
    live = _live_claim(now)
    latest = Prediction.objects.filter(study=OuterRef("pk")).order_by("-created_at")
    indeterminate = Exact(Subquery(latest.values("indeterminate")[:1], output_field=BooleanField()), True)
    return _awaiting_review(user).aggregate(
        total=Count("id"),
        urgent=Count("id", filter=Q(priority=Study.Priority.URGENT)),
        escalated=Count("id", filter=Q(created_at__lt=_escalate_before(now))),
        indeterminate=Count("id", filter=indeterminate),
        my_claims=Count("id", filter=live & Q(reading_claimed_by=user)),
        claimed_by_others=Count("id", filter=live & ~Q(reading_claimed_by=user)),
    )


def _apply_worklist_filters(
    queryset: QuerySet[Study], filters: WorklistFilters, user: Any, now: Any
) -> QuerySet[Study]:
    if filters.priority:
        queryset = queryset.filter(priority=filters.priority)
    if filters.ai_label:
        queryset = queryset.filter(ai_label=filters.ai_label)
    if filters.indeterminate is not None:
        queryset = queryset.filter(ai_indeterminate=filters.indeterminate)
    if filters.escalated is not None:
        queryset = queryset.filter(escalated=filters.escalated)
    if filters.min_age_minutes is not None:
        queryset = queryset.filter(created_at__lte=now - timedelta(minutes=filters.min_age_minutes))
    if filters.max_age_minutes is not None:
        queryset = queryset.filter(created_at__gte=now - timedelta(minutes=filters.max_age_minutes))
    if filters.claim == "mine":
        queryset = queryset.filter(claim_active=True, reading_claimed_by=user)
    elif filters.claim == "free":
        queryset = queryset.filter(claim_active=False)
    elif filters.claim == "taken":
        queryset = queryset.filter(claim_active=True).exclude(reading_claimed_by=user)
    return queryset


def worklist_filters(params: Mapping[str, Any]) -> WorklistFilters:
    """Filters for the worklist."""
    return WorklistFilters(
        priority=choice_param(params, "priority", Study.Priority.values),
        ai_label=choice_param(params, "ai_label", Label.values),
        indeterminate=bool_param(params, "indeterminate"),
        escalated=bool_param(params, "escalated"),
        min_age_minutes=int_param(params, "min_age_minutes"),
        max_age_minutes=int_param(params, "max_age_minutes"),
        claim=choice_param(params, "claim", ["mine", "free", "taken"]),
        ordering=choice_param(params, "ordering", list(WORKLIST_ORDERINGS)) or "priority",
    )


def report_versions(*, user: Any, study_id: Any) -> list[Report]:
    """Every report version of a study this user may see, newest first (404 for a study they may not)."""
    if not visible_studies(user).filter(id=study_id).exists():
        raise Http404("No such study.")
    return list(Report.objects.filter(study_id=study_id).order_by("-version"))


def report_get(*, user: Any, study_id: Any, version: int | None = None) -> Report:
    """One report version (the current one by default) of a visible study, else 404 (no existence leak)."""
    reports = Report.objects.filter(study__in=visible_studies(user), study_id=study_id)
    if version is None:
        report = reports.filter(status=Report.Status.CURRENT).first()
    else:
        report = reports.filter(version=version).first()
    if report is None:
        raise Http404("No signed report for this study.")
    return report
