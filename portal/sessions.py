"""Session lifetime: ended after AIRSPACE_SESSION_IDLE_MINUTES without use, and after
AIRSPACE_SESSION_MAX_HOURS in any case (#17 finding 9).

SESSION_COOKIE_AGE is the idle window; each use slides it by saving the session, at most once a minute
(the study pages poll every second, and a session write per poll would be a database write per poll).
"""

from __future__ import annotations

import time
from collections.abc import Callable

from django.conf import settings
from django.contrib.auth import logout
from django.http import HttpRequest, HttpResponse

SEEN_KEY = "airspace_seen"
STARTED_KEY = "airspace_started"
TOUCH_EVERY_SECONDS = 60


class SessionLifetimeMiddleware:
    """Slide a signed-in session's idle expiry on use; end it past the absolute maximum."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated and hasattr(request, "session"):
            now = time.time()
            started = request.session.setdefault(STARTED_KEY, now)
            if now - float(started) > settings.AIRSPACE_SESSION_MAX_HOURS * 3600:
                logout(request)  # the next request is anonymous: pages redirect to the login form
            elif now - float(request.session.get(SEEN_KEY, 0)) > TOUCH_EVERY_SECONDS:
                request.session[SEEN_KEY] = now  # modified: saved with a fresh expiry
        return self.get_response(request)
