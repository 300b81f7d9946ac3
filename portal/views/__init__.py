"""Site-wide pages: the health probe and the landing redirect by role."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET

from modelops.services.health import health_report
from portal.roles import Role, roles_of


@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    """200 when database, broker and model bundle are usable; 503 naming what is not."""
    report = health_report()
    return JsonResponse(report, status=200 if report["ok"] else 503)


@login_required
def home(request: HttpRequest) -> HttpResponse:
    """Send each role to its landing page."""
    held = roles_of(request.user)
    if Role.CLINICIAN in held:
        return redirect("study-list")
    if Role.RADIOLOGIST in held:
        return redirect("worklist")
    if Role.ADMIN in held:
        return redirect("audit")
    return render(request, "no_role.html", status=403)
