"""Operating profiles on the model page (admins): calibrate from reads, review the figures, confirm."""

from __future__ import annotations

import datetime as dt

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from audit.services.events import ctx
from mlcore import BundleError
from modelops.models import CalibrationRun
from modelops.selectors import profile_get
from modelops.services.calibration import figures_table
from modelops.services.calibration_runs import calibration_request
from modelops.services.profiles import activation_blocker, profile_activate
from portal.errors import DomainError
from portal.roles import Role, role_required


def _calibration_input(request: HttpRequest) -> tuple[dt.date | None, float]:
    """The form's `since` and `target_sensitivity`; a bad value is a DomainError naming it."""
    since_text = request.POST.get("since", "").strip()
    try:
        since = dt.date.fromisoformat(since_text) if since_text else None
        target = float(request.POST.get("target_sensitivity") or 0.95)
    except ValueError as exc:
        raise DomainError("Since must be a date (YYYY-MM-DD) and the target a number.") from exc
    if not 0.5 <= target < 1.0:
        raise DomainError("The target sensitivity must be at least 0.5 and below 1.")
    return since, target


@role_required(Role.ADMIN)
@require_POST
def profile_calibrate(request: HttpRequest) -> HttpResponse:
    """Queue a fit on the signed reads (a worker does it) and open its page, which waits for the figures."""
    try:
        since, target = _calibration_input(request)
        run = calibration_request(
            user=request.user, since=since, target_sensitivity=target, context=ctx(request)
        )
    except (DomainError, BundleError) as exc:
        messages.error(request, getattr(exc, "message", str(exc)))
        return redirect("model-card")
    return redirect("model-calibration", pk=run.pk)


@role_required(Role.ADMIN)
def calibration_detail(request: HttpRequest, pk: int) -> HttpResponse:
    """A calibration request: pending (the page refreshes itself), then its profile's figures, or why not."""
    run = get_object_or_404(CalibrationRun, pk=pk)
    if run.status == CalibrationRun.Status.DONE and run.profile_id:
        return redirect("model-profile", pk=run.profile_id)
    return render(request, "modelops/calibration_run.html", {"run": run})


@role_required(Role.ADMIN)
def profile_detail(request: HttpRequest, pk: int) -> HttpResponse:
    """A profile's numbers and the cross-validated figures that justify it, with the confirm step."""
    profile = profile_get(profile_id=pk)
    context = {
        "profile": profile,
        "rows": figures_table(profile),
        "blocker": activation_blocker(profile),
        "metrics": profile.metrics or {},
    }
    return render(request, "modelops/profile_detail.html", context)


@role_required(Role.ADMIN)
@require_POST
def profile_activate_view(request: HttpRequest, pk: int) -> HttpResponse:
    """Confirmed: make the profile active (an override reason when the safety rail asks for one)."""
    profile = profile_get(profile_id=pk)
    try:
        profile_activate(
            profile=profile,
            user=request.user,
            override_reason=request.POST.get("override_reason", ""),
            context=ctx(request),
        )
    except DomainError as exc:
        messages.error(request, exc.message)
        return redirect("model-profile", pk=profile.pk)
    messages.success(request, f"Profile #{profile.pk} is now active: new studies are labelled with it.")
    return redirect("model-card")
