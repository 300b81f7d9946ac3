"""Sending a notification's email: claimed by a conditional UPDATE, retried on SMTP faults, then failed.

The message names no patient: it says what happened and links to the portal, where the reader signs in.
"""

from __future__ import annotations

import smtplib
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.core.mail import send_mail
from django.db import connection
from django.utils import timezone

from audit.services.events import audit_record
from notifications.models import EmailState, Kind, Notification
from portal.frozen_queries import FrozenSelect

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


def public_url(path: str) -> str:
    """An absolute link into the portal (AIRSPACE_PUBLIC_URL, the address users reach it at)."""
    return f"{settings.AIRSPACE_PUBLIC_URL.rstrip('/')}{path}"


def _text(notification: Notification) -> tuple[str, str]:
    subject = f"Airspace: {_SUBJECTS[Kind(notification.kind)]}"
    lines = [
        f"{_SUBJECTS[Kind(notification.kind)]}.",
        "",
        f"Open it in Airspace (sign-in required): {public_url(f'/studies/{notification.study_id}/')}",
        "",
        f"You receive this because of your notification choices: {public_url('/notifications/preferences/')}",
        "AI decision support — not a diagnosis. The radiologist's read is final.",
    ]
    return subject, "\n".join(lines)


# The claim and the "sent" mark, written out (#17: one email per positive study, and building the ORM's
# UPDATE cost more than running it); the notification with its recipient is read by a compiled SELECT.
_CLAIM_SQL = (
    "UPDATE {table} SET {claimed} = %s, {attempts} = {attempts} + 1 WHERE {id} = %s AND {state} = %s"
    " AND ({claimed} IS NULL OR {claimed} < %s)"
)
_SENT_SQL = "UPDATE {table} SET {state} = %s, {emailed} = %s, {error} = '' WHERE {id} = %s"
_WITH_RECIPIENT = FrozenSelect(lambda pk: Notification.objects.select_related("recipient").filter(id=pk), 1)


def _sql(template: str) -> str:
    quote, field = connection.ops.quote_name, Notification._meta.get_field
    columns = {"claimed": "email_claimed_at", "attempts": "email_attempts", "id": "id", "state": "email_state",
               "emailed": "emailed_at", "error": "email_error"}  # fmt: skip
    names = {key: quote(field(name).column) for key, name in columns.items()}
    return template.format(table=quote(Notification._meta.db_table), **names)


def _claim(notification_id: int) -> bool:
    now = timezone.now()
    adapt = connection.ops.adapt_datetimefield_value
    with connection.cursor() as cursor:
        cursor.execute(
            _sql(_CLAIM_SQL), [adapt(now), notification_id, EmailState.PENDING, adapt(now - _STALE_CLAIM)]
        )
        return cursor.rowcount == 1


def _mark_sent(notification_id: int) -> None:
    emailed = connection.ops.adapt_datetimefield_value(timezone.now())
    with connection.cursor() as cursor:
        cursor.execute(_sql(_SENT_SQL), [EmailState.SENT, emailed, notification_id])


def notification_email_send(*, notification_id: int) -> EmailOutcome:
    """One attempt: 1. claim; 2. send through Django's email backend; 3. record sent, retry or failed."""
    if not _claim(notification_id):
        return EmailOutcome(state="skipped")
    notification = _WITH_RECIPIENT.fetch(notification_id)[0]
    subject, body = _text(notification)
    try:
        send_mail(subject, body, None, [notification.recipient.email], fail_silently=False)
    except (smtplib.SMTPException, OSError) as exc:
        return _failure(notification, f"{type(exc).__name__}: {exc}"[:500])
    _mark_sent(notification_id)
    _audit(notification, "notification.email_sent")
    return EmailOutcome(state="sent")


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
