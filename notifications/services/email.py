"""Sending a notification's email: claimed by a conditional UPDATE, retried on SMTP faults, then failed.

The message names no patient: it says what happened and links to the portal, where the reader signs in.
One email also carries the recipient's other pending notifications that no task holds (a burst of
positive studies is one email per radiologist), and emails wait behind every queued study (priority 9).
"""

from __future__ import annotations

import smtplib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from celery import current_app
from django.conf import settings
from django.core.mail import send_mail
from django.db import connection
from django.db.models import Q
from django.utils import timezone

from audit.services.events import audit_record
from notifications.models import EmailState, Kind, Notification
from portal.frozen_queries import FrozenSelect, written_out

EMAIL_TASK = "notifications.tasks.notification_email_task"
# Redis serves priority steps 0, 3, 6, 9 in that order: every waiting study (6) goes before an email, so
# under a backlog results come first and emails follow (and coalesce, see _COMPANIONS_SQL).
EMAIL_PRIORITY = 9
# A claim older than this belongs to a worker that died mid-send (the SMTP timeout is far shorter).
_STALE_CLAIM = timedelta(minutes=5)
_SUBJECTS = {
    Kind.READ_SIGNED: "A read was signed",
    Kind.READ_AMENDED: "A signed read was amended",
    Kind.STUDY_ARRIVED: "A study needs a read",
    Kind.STUDY_ESCALATED: "A study is waiting past its limit",
}


@dataclass(frozen=True)
class EmailOutcome:
    state: str  # "sent", "retry", "failed" or "skipped" (not pending, or another worker has it)
    delay: int = 0


def email_task_send(notification_id: int) -> None:
    """Publish one notification's email task (by name: this module stays free of the task module)."""
    current_app.send_task(EMAIL_TASK, args=[notification_id], priority=EMAIL_PRIORITY)


def public_url(path: str) -> str:
    """An absolute link into the portal (AIRSPACE_PUBLIC_URL, the address users reach it at)."""
    return f"{settings.AIRSPACE_PUBLIC_URL.rstrip('/')}{path}"


def _text(notification: Notification, companions: Sequence[Notification] = ()) -> tuple[str, str]:
    """Subject and body; with companions, one line and link per notification, in the order they came."""
    footer = [
        "",
        f"You receive this because of your notification choices: {public_url('/notifications/preferences/')}",
        "AI decision support — not a diagnosis. The radiologist's read is final.",
    ]
    what = _SUBJECTS[Kind(notification.kind)]
    if not companions:
        link = public_url(f"/studies/{notification.study_id}/")
        return f"Airspace: {what}", "\n".join(
            [f"{what}.", "", f"Open it in Airspace (sign-in required): {link}", *footer]
        )
    every = [notification, *companions]
    lines = [f"{len(every)} updates since your last email. Open each in Airspace (sign-in required):", ""]
    lines += [f"- {_SUBJECTS[Kind(n.kind)]}: {public_url(f'/studies/{n.study_id}/')}" for n in every]
    return f"Airspace: {len(every)} updates", "\n".join([*lines, *footer])


# The claim and the "sent" mark, written out (#17: one email per positive study, and building the ORM's
# UPDATE cost more than running it); the notification with its recipient is read by a compiled SELECT.
_CLAIM_SQL = (
    "UPDATE {table} SET {email_claimed_at} = %s, {email_attempts} = {email_attempts} + 1 WHERE {id} = %s"
    " AND {email_state} = %s AND ({email_claimed_at} IS NULL OR {email_claimed_at} < %s)"
)
_SENT_SQL = "UPDATE {table} SET {email_state} = %s, {emailed_at} = %s, {email_error} = '' WHERE {id} = %s"
# An email also carries the recipient's other pending notifications that no task holds (at most
# MAX_PER_EMAIL), so a burst of positive studies is one email to each radiologist, not one per study; the
# companions' own tasks then find them sent and stop. Rows another task claims meanwhile are skipped
# (the outer condition is re-checked on the locked row).
MAX_PER_EMAIL = 25
_COMPANIONS_SQL = (
    "UPDATE {table} SET {email_claimed_at} = %s WHERE {id} IN (SELECT {id} FROM {table}"
    " WHERE {recipient} = %s AND {email_state} = %s AND ({email_claimed_at} IS NULL OR {email_claimed_at} < %s)"
    " AND {id} <> %s ORDER BY {id} LIMIT %s) AND ({email_claimed_at} IS NULL OR {email_claimed_at} < %s)"
    " RETURNING {id}, {kind}, {study}"
)
_WITH_RECIPIENT = FrozenSelect(lambda pk: Notification.objects.select_related("recipient").filter(id=pk), 1)


def _claim(notification_id: int) -> bool:
    now = timezone.now()
    adapt = connection.ops.adapt_datetimefield_value
    with connection.cursor() as cursor:
        cursor.execute(
            written_out(Notification, _CLAIM_SQL),
            [adapt(now), notification_id, EmailState.PENDING, adapt(now - _STALE_CLAIM)],
        )
        return cursor.rowcount == 1


def _claim_companions(notification: Notification) -> list[Notification]:
    """Claim the recipient's other pending notifications that no live task holds; them, oldest first (the
    fields the email and its audit use, from the UPDATE's RETURNING: no second read)."""
    now = timezone.now()
    adapt = connection.ops.adapt_datetimefield_value
    stale = adapt(now - _STALE_CLAIM)  # a claim this old belongs to a task that died mid-send
    with connection.cursor() as cursor:
        cursor.execute(
            written_out(Notification, _COMPANIONS_SQL),
            [
                adapt(now),
                notification.recipient_id,
                EmailState.PENDING,
                stale,
                notification.id,
                MAX_PER_EMAIL - 1,
                stale,
            ],
        )
        rows = sorted(cursor.fetchall())
    study = Notification._meta.get_field("study")
    return [Notification(id=i, kind=kind, study_id=study.to_python(s)) for i, kind, s in rows]


def _mark_sent(notification_id: int, companions: list[Notification]) -> None:
    now = timezone.now()
    if companions:
        Notification.objects.filter(id__in=[notification_id, *(c.id for c in companions)]).update(
            email_state=EmailState.SENT, emailed_at=now, email_error=""
        )
        return
    emailed = connection.ops.adapt_datetimefield_value(now)
    with connection.cursor() as cursor:
        cursor.execute(written_out(Notification, _SENT_SQL), [EmailState.SENT, emailed, notification_id])


def notification_email_send(*, notification_id: int) -> EmailOutcome:
    """One attempt: 1. claim (with the recipient's other unclaimed pending notifications); 2. send one
    email through Django's email backend; 3. record sent, retry or failed."""
    if not _claim(notification_id):
        return EmailOutcome(state="skipped")
    notification = _WITH_RECIPIENT.fetch(notification_id)[0]
    companions = _claim_companions(notification)
    subject, body = _text(notification, companions)
    try:
        send_mail(subject, body, None, [notification.recipient.email], fail_silently=False)
    except (smtplib.SMTPException, OSError) as exc:
        _release(companions)
        return _failure(notification, f"{type(exc).__name__}: {exc}"[:500])
    _mark_sent(notification_id, companions)
    extra = {"with": [c.id for c in companions]} if companions else {}
    _audit(notification, "notification.email_sent", **extra)
    return EmailOutcome(state="sent")


def _release(companions: list[Notification]) -> None:
    """A failed send gives the companions back, each with its own task again (theirs may have stopped)."""
    if not companions:
        return
    Notification.objects.filter(id__in=[c.id for c in companions]).update(email_claimed_at=None)
    for companion in companions:
        email_task_send(companion.id)


def _failure(notification: Notification, error: str) -> EmailOutcome:
    if notification.email_attempts >= settings.AIRSPACE_NOTIFY_EMAIL_MAX_ATTEMPTS:
        Notification.objects.filter(id=notification.id).update(
            email_state=EmailState.FAILED, email_error=error
        )
        _audit(notification, "notification.email_failed", error=error)
        return EmailOutcome(state="failed")
    Notification.objects.filter(id=notification.id).update(email_claimed_at=None, email_error=error)
    return EmailOutcome(state="retry", delay=min(600, 10 * 2 ** (notification.email_attempts - 1)))


def _audit(notification: Notification, action: str, **after: Any) -> None:
    audit_record(
        actor=None,
        action=action,
        object_type="study",
        object_id=notification.study_id,
        after={
            "notification": notification.id,
            "kind": notification.kind,
            "to": notification.recipient.username,
            **after,
        },
    )


def email_sweep(*, now: Any = None) -> int:
    """Pending emails whose task was lost (the broker was down when it was published, or a worker died
    mid-send): one task per recipient, which carries that recipient's others; how many were sent."""
    now = now or timezone.now()
    lost = Q(
        email_claimed_at__isnull=True,
        created_at__lt=now - timedelta(seconds=settings.AIRSPACE_EMAIL_LOST_AFTER_SECONDS),
    )
    stale = Q(email_claimed_at__lt=now - _STALE_CLAIM)
    rows = (
        Notification.objects.filter(lost | stale, email_state=EmailState.PENDING)
        .order_by("recipient_id", "id")
        .values_list("recipient_id", "id")[:1000]
    )
    first: dict[int, int] = {}
    for recipient_id, notification_id in rows:
        first.setdefault(recipient_id, notification_id)
    for notification_id in first.values():
        email_task_send(notification_id)
    return len(first)
