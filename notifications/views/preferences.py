"""Which notifications a user receives, in the bell and by email, kind by kind."""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods

from audit.services.events import ctx
from notifications.services.preferences import Choice, email_enabled, preferences_for, preferences_set
from portal.roles import ANY_ROLE, role_required


@role_required(*ANY_ROLE)
@require_http_methods(["GET", "POST"])
def preferences_page(request: HttpRequest) -> HttpResponse:
    """A checkbox pair per kind the user's roles receive; saving records the change (audited)."""
    choices = preferences_for(user=request.user)
    if request.method == "POST":
        wanted = [
            Choice(
                kind=c.kind,
                in_app=request.POST.get(f"{c.kind}-in_app") == "on",
                email=request.POST.get(f"{c.kind}-email") == "on",
            )
            for c in choices
        ]
        preferences_set(user=request.user, choices=wanted, context=ctx(request))
        messages.success(request, "Your notification choices are saved.")
        return redirect("notification-preferences")
    context = {"choices": choices, "email_enabled": email_enabled(), "address": request.user.email}
    return render(request, "notifications/preferences.html", context)
