"""Request context for audit events raised by Django signals (role changes, admin edits)."""

from __future__ import annotations

from collections.abc import Callable
from contextvars import ContextVar

from django.http import HttpRequest, HttpResponse

# Per-request (per-thread / per-task) context, not shared state: it is reset when the request ends.
_current_request: ContextVar[HttpRequest | None] = ContextVar("airspace_audit_request", default=None)


def current_request() -> HttpRequest | None:
    """The request being handled by this thread or task, if any (None in commands and workers)."""
    return _current_request.get()


class AuditRequestMiddleware:
    """Make the request (its user, IP and user agent) known to signal-based audit events."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        token = _current_request.set(request)
        try:
            return self.get_response(request)
        finally:
            _current_request.reset(token)
