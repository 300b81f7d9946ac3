"""The bell's unread count, on every page of a signed-in user with a role."""

from __future__ import annotations

from django.http import HttpRequest

from notifications.selectors import unread_count
from portal.roles import roles_of


def bell(request: HttpRequest) -> dict[str, int | None]:
    """`unread_notifications`: None where no bell is shown (signed out, no role, or error pages)."""
    user = getattr(request, "user", None)
    if not roles_of(user):
        return {"unread_notifications": None}
    return {"unread_notifications": unread_count(user=user)}
