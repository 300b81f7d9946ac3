"""Reads of notifications: each user sees only their own, and only those meant for the bell."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from django.http import Http404

from notifications.models import Notification


def notification_list(*, user: Any, unread_only: bool = False) -> QuerySet[Notification]:
    """The user's in-app notifications, newest first."""
    queryset = Notification.objects.filter(recipient=user, in_app=True).select_related("study__patient")
    if unread_only:
        queryset = queryset.filter(read_at__isnull=True)
    return queryset.order_by("-created_at", "-id")


def notification_get(*, user: Any, notification_id: Any) -> Notification:
    """One of the user's notifications, or 404 (someone else's answers like a missing one)."""
    notification = Notification.objects.filter(recipient=user, in_app=True, id=notification_id).first()
    if notification is None:
        raise Http404("No such notification.")
    return notification


def unread_count(*, user: Any) -> int:
    """How many in-app notifications the user has not read (the bell's number)."""
    return Notification.objects.filter(recipient=user, in_app=True, read_at__isnull=True).count()
