"""Login, logout and failed-login auditing, and the lockout answer."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib.auth.signals import user_logged_in, user_logged_out, user_login_failed
from django.dispatch import receiver
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render

from audit.services.events import audit_record, ctx


@receiver(user_logged_in)
def audit_login(sender: Any, request: HttpRequest, user: Any, **_: Any) -> None:
    """Record a successful sign-in."""
    # The backend that authenticated: a provider (single sign-on) or a local password (break-glass).
    via_sso = getattr(user, "backend", "") == "sso.backends.OidcBackend"
    audit_record(
        actor=user,
        action="auth.login",
        object_type="user",
        object_id=user.pk,
        reason="single sign-on" if via_sso else "",
        context=ctx(request),
    )


@receiver(user_logged_out)
def audit_logout(sender: Any, request: HttpRequest, user: Any, **_: Any) -> None:
    """Record a sign-out."""
    if user is not None:
        audit_record(
            actor=user, action="auth.logout", object_type="user", object_id=user.pk, context=ctx(request)
        )


@receiver(user_login_failed)
def audit_login_failed(
    sender: Any, credentials: dict[str, Any], request: HttpRequest | None = None, **_: Any
) -> None:
    """Record a failed sign-in with the username tried (never the password)."""
    username = str(credentials.get("username", ""))[:150]
    audit_record(
        actor=None,
        action="auth.login_failed",
        object_type="user",
        object_id=username[:64],  # the audit object id column holds 64 characters
        # The SSO callback passes a nonce, never a username: the provider's answer was refused.
        reason="single sign-on did not complete"
        if "nonce" in credentials
        else "bad credentials or locked out",
        context=ctx(request),
    )


def lockout_response(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
    """Too many failed logins: a JSON 429 for the API, a page for the browser."""
    minutes = max(1, round(float(settings.AXES_COOLOFF_TIME) * 60))
    wait = "a minute" if minutes == 1 else f"{minutes} minutes"
    message = f"Too many failed login attempts. Try again in {wait} or ask an administrator."
    if request.path.startswith("/api/"):
        return JsonResponse({"error": {"code": "locked_out", "message": message, "fields": {}}}, status=429)
    return render(request, "registration/locked_out.html", {"message": message}, status=429)
