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
from django.db.models import F, Q
from django.utils import timezone

from audit.services.events import audit_record
from notifications.models import EmailState, Kind, Notification

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


def _claim(notification_id: int) -> bool:
    now = timezone.now()
    return bool(
        Notification.objects.filter(id=notification_id, email_state=EmailState.PENDING)
        .filter(Q(email_claimed_at__isnull=True) | Q(email_claimed_at__lt=now - _STALE_CLAIM))
        .update(email_claimed_at=now, email_attempts=F("email_attempts") + 1)
    )


def notification_email_send(*, notification_id: int) -> EmailOutcome:
    """One attempt: 1. claim; 2. send through Django's email backend; 3. record sent, retry or failed."""
    if not _claim(notification_id):
        return EmailOutcome(state="skipped")
    notification = Notification.objects.select_related("recipient").get(id=notification_id)
    subject, body = _text(notification)
    try:
        send_mail(subject, body, None, [notification.recipient.email], fail_silently=False)
    except (smtplib.SMTPException, OSError) as exc:
        return _failure(notification, f"{type(exc).__name__}: {exc}"[:500])
    Notification.objects.filter(id=notification_id).update(
        email_state=EmailState.SENT, emailed_at=timezone.now(), email_error=""
    )
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
