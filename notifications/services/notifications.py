"""A user marks their own notifications read (one, or all at once)."""

from __future__ import annotations

from typing import Any

from django.utils import timezone

from notifications.models import Notification


def notification_mark_read(*, user: Any, notification: Notification) -> Notification:
    """Mark one of the user's notifications read (reading it twice keeps the first time)."""
    if notification.recipient_id != user.pk:  # selectors scope first; this is the service's own check
        raise PermissionError("Not your notification.")
    if notification.read_at is None:
        notification.read_at = timezone.now()
        Notification.objects.filter(id=notification.id, read_at__isnull=True).update(
            read_at=notification.read_at
        )
    return notification


def notifications_mark_all_read(*, user: Any) -> int:
    """Mark every unread notification of the user read; how many."""
    return Notification.objects.filter(recipient=user, read_at__isnull=True, in_app=True).update(
        read_at=timezone.now()
    )
