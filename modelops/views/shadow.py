"""Shadow mode pages (admins): register a candidate, compare it with the served model, promote, roll back."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from audit.services.events import ctx
from mlcore import BundleError
from modelops.models import OperatingProfile, ShadowRun
from modelops.selectors import active_bundle, lifecycle_history, profile_list
from modelops.services import shadow as shadow_services
from modelops.services.shadow_report import shadow_comparison
from portal.errors import DomainError
from portal.roles import Role, role_required


@role_required(Role.ADMIN)
def shadow_page(request: HttpRequest) -> HttpResponse:
    """The running (else latest) shadow run's comparison, and the form to register a candidate."""
    try:
        version = active_bundle().version
        bundles = shadow_services.candidate_bundles()
    except BundleError as exc:
        messages.error(request, str(exc))
        version, bundles = "", []
    latest = ShadowRun.objects.select_related("candidate_profile").first()
    context = {
        "shadow": latest,
        "report": shadow_comparison(latest) if latest else None,
        "bundles": bundles,
        "profiles": profile_list(model_version=version).filter(active=False),
        "history": lifecycle_history(),
    }
    return render(request, "modelops/shadow.html", context)


@role_required(Role.ADMIN)
@require_POST
def shadow_start_view(request: HttpRequest) -> HttpResponse:
    """Register the chosen candidate (`bundle:<folder>` or `profile:<id>`) and start scoring in shadow."""
    kind, _, value = request.POST.get("candidate", "").partition(":")
    try:
        profile = None
        if kind == "profile" and value.isdigit():
            profile = OperatingProfile.objects.filter(pk=int(value)).first()
        shadow_services.shadow_start(
            user=request.user,
            candidate_bundle=value if kind == "bundle" else "",
            candidate_profile=profile,
            context=ctx(request),
        )
    except (DomainError, BundleError) as exc:
        messages.error(request, getattr(exc, "message", str(exc)))
    return redirect("model-shadow")


def _act(request: HttpRequest, pk: int, action: Callable[..., Any], done: str, **extra: Any) -> HttpResponse:
    shadow = get_object_or_404(ShadowRun, pk=pk)
    try:
        action(shadow=shadow, user=request.user, context=ctx(request), **extra)
    except DomainError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, done)
    return redirect("model-shadow")


@role_required(Role.ADMIN)
@require_POST
def shadow_promote_view(request: HttpRequest, pk: int) -> HttpResponse:
    """One click: the candidate (profile or bundle) is served from the next study on (audited)."""
    reason = request.POST.get("override_reason", "")
    done = "Promoted: new studies are labelled with the candidate."
    return _act(request, pk, shadow_services.shadow_promote, done, override_reason=reason)


@role_required(Role.ADMIN)
@require_POST
def shadow_rollback_view(request: HttpRequest, pk: int) -> HttpResponse:
    """One click: what was served before the promotion serves again (audited)."""
    return _act(
        request, pk, shadow_services.shadow_rollback, "Rolled back: what was served before serves again."
    )


@role_required(Role.ADMIN)
@require_POST
def shadow_stop_view(request: HttpRequest, pk: int) -> HttpResponse:
    """End the shadow run without promoting it (audited)."""
    return _act(request, pk, shadow_services.shadow_stop, "Shadow run stopped; its results are kept.")
