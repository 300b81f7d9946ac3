"""The bell's unread count, on every page of a signed-in user with a role."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from django.utils.functional import SimpleLazyObject

from notifications.selectors import unread_count
from portal.roles import roles_of


def bell(request: HttpRequest) -> dict[str, Any]:
    """`unread_notifications`: None where no bell is shown (signed out, no role, or error pages).

    Counted lazily: only a page that draws the bell (base.html) pays the query, not the study page's
    polled fragments, which render with the same context processors.
    """
    user = getattr(request, "user", None)
    if not roles_of(user):
        return {"unread_notifications": None}
    return {"unread_notifications": SimpleLazyObject(lambda: unread_count(user=user))}
