"""From an event to notifications: who is told (by role, scope and choice), what they read, emails queued.

Runs in the worker (notifications.tasks). An event is recorded once per (kind, study, source): a
redelivered task or a second escalation scan finds it and tells nobody twice.
"""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth.models import User
from django.db import transaction
from django.db.models import Exists, OuterRef, Q, Subquery
from django.utils import timezone

from audit.services.events import audit_record
from diagnosis.models import Prediction, Study
from diagnosis.services.scope import visible_studies
from notifications.models import EmailState, Kind, Notification, NotificationEvent
from notifications.services.email import email_task_send
from notifications.services.preferences import KIND_ROLES, email_enabled, preferences_of
from portal.frozen_queries import FrozenSelect, first_of, insert_row
from portal.roles import Role, has_role
from reading.models import ReadLabel, Review

# The reads every arrival event makes, compiled once per process (#17: building them cost more than
# running them, and a burst of positive studies makes one event each).
_STUDY = FrozenSelect(
    lambda study_id: first_of(Study.objects.select_related("patient", "created_by").filter(id=study_id)),
    uuid.UUID(int=1),
)
_LATEST_PREDICTION = FrozenSelect(
    lambda study_id: first_of(Prediction.objects.filter(study_id=study_id).order_by("-created_at")),
    uuid.UUID(int=1),
)
# Radiologists read for every department (diagnosis.services.scope).
_RADIOLOGISTS = FrozenSelect(
    lambda: User.objects.filter(is_active=True, groups__name=Role.RADIOLOGIST).distinct().order_by("id")
)


def _recipients(kind: str, study: Study) -> list[Any]:
    """Active users of the kind's role who may see the study."""
    if KIND_ROLES[Kind(kind)] == Role.CLINICIAN:
        requester = study.created_by
        if not (requester.is_active and has_role(requester, Role.CLINICIAN)):
            return []
        return [requester] if visible_studies(requester).filter(id=study.id).exists() else []
    return _RADIOLOGISTS.fetch()


def _subject(study: Study) -> str:
    """How a study is named inside the portal: accession, else MRN, never the patient's name."""
    return study.accession_number or f"MRN {study.patient.mrn}"


def _message(kind: str, study: Study, source_key: str) -> tuple[str, str]:
    """The in-app title and body (the recipient may see the study; the email says less)."""
    name = _subject(study)
    if kind in (Kind.READ_SIGNED, Kind.READ_AMENDED):
        review = Review.objects.select_related("reviewer").get(id=source_key)
        label = ReadLabel(review.final_label).label
        if kind == Kind.READ_AMENDED:
            return f"Read amended: {label} ({name})", f"Version {review.version}: {review.amendment_reason}"
        return f"Read signed: {label} ({name})", f"Signed by {review.reviewer.get_username()}."
    prediction = _LATEST_PREDICTION.first(study.id)
    why = "Urgent" if study.priority == Study.Priority.URGENT else ""
    if prediction is not None and prediction.indeterminate:
        why = " and ".join(filter(None, [why, "indeterminate AI result"]))
    elif prediction is not None and prediction.label == "PNEUMONIA":
        why = " and ".join(filter(None, [why, "positive AI result"]))
    why = why[:1].upper() + why[1:]
    if kind == Kind.STUDY_ESCALATED:
        minutes = settings.AIRSPACE_ESCALATE_AFTER_MINUTES
        return f"Waiting over {minutes} min: {name}", f"{why}; still not read."
    return f"Needs a read: {name}", f"{why}."


def _event_once(*, kind: str, study: Study, source_key: str) -> NotificationEvent | None:
    """The new event, or None if this (kind, study, source) was recorded before (the model's unique
    constraint `notification_event_once`): one INSERT that skips a duplicate."""
    event = NotificationEvent(kind=kind, study=study, source_key=source_key)
    return event if insert_row(event, unless_exists=("kind", "study", "source_key")) else None


@transaction.atomic
def notification_event_record(*, kind: str, study_id: Any, source_key: str = "") -> list[int]:
    """Record the event once and notify its recipients; the ids of the notifications to email."""
    if kind not in Kind.values:
        return []
    study = _STUDY.first(study_id)
    if study is None:
        return []
    event = _event_once(kind=kind, study=study, source_key=source_key)
    if event is None:
        return []
    recipients = _recipients(kind, study)
    choices = preferences_of(user_ids=[u.id for u in recipients], kind=kind)
    title, body = _message(kind, study, source_key)
    rows = []
    for user in recipients:
        choice = choices[user.id]
        wants_email = choice.email and bool(user.email) and email_enabled()
        if not (choice.in_app or wants_email):
            continue
        state = EmailState.PENDING if wants_email else EmailState.NOT_WANTED
        rows.append(
            Notification(
                event=event,
                recipient=user,
                kind=kind,
                study=study,
                title=title[:200],
                body=body[:2000],
                in_app=choice.in_app,
                email_state=state,
            )
        )
    created_rows = Notification.objects.bulk_create(rows)
    audit_record(
        actor=None,
        action="notification.create",
        object_type="study",
        object_id=study.id,
        after={
            "kind": kind,
            "source": source_key,
            "recipients": [n.recipient.get_username() for n in created_rows],
        },
    )
    to_email = [n.id for n in created_rows if n.email_state == EmailState.PENDING]
    for notification_id in to_email:
        transaction.on_commit(lambda i=notification_id: email_task_send(i), robust=True)
    return to_email


def escalation_candidates(*, now: Any = None, limit: int = 100) -> list[Any]:
    """Unread urgent, positive or indeterminate studies past the escalation limit, not yet told about."""
    now = now or timezone.now()
    before = now - timedelta(minutes=settings.AIRSPACE_ESCALATE_AFTER_MINUTES)
    latest = Prediction.objects.filter(study=OuterRef("pk")).order_by("-created_at")
    told = NotificationEvent.objects.filter(kind=Kind.STUDY_ESCALATED, study=OuterRef("pk"))
    queryset = (
        Study.objects.filter(status=Study.Status.COMPLETED, created_at__lt=before)
        .exclude(Exists(Review.objects.filter(study=OuterRef("pk"))))
        .exclude(Exists(told))
        .annotate(
            ai_label=Subquery(latest.values("label")[:1]), ai_ind=Subquery(latest.values("indeterminate")[:1])
        )
        .filter(Q(priority=Study.Priority.URGENT) | Q(ai_label="PNEUMONIA") | Q(ai_ind=True))
        .order_by("created_at")
    )
    return list(queryset.values_list("id", flat=True)[:limit])


def escalations_record(*, now: Any = None) -> int:
    """Tell radiologists about each study that escalated since the last scan; how many studies."""
    studies = escalation_candidates(now=now)
    for study_id in studies:
        notification_event_record(kind=Kind.STUDY_ESCALATED, study_id=study_id)
    return len(studies)
