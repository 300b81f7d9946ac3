"""Study page fragments and the radiologist's "next study": thin views over selectors and services."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from diagnosis import selectors
from diagnosis.services import reviews, studies
from diagnosis.services.errors import Conflict, DomainError
from diagnosis.views import ANY_ROLE, _study_context, ctx, role_required
from portal.roles import Role

# How far down the worklist "next" looks for a study nobody else is reading.
NEXT_SCAN_LIMIT = 50


@role_required(*ANY_ROLE)
def study_panels(request: HttpRequest, pk: Any) -> HttpResponse:
    """Controls, viewer and result panels, swapped in when the status changes (polling: not audited)."""
    study = selectors.study_get(user=request.user, study_id=pk)
    return render(request, "diagnosis/_study_panels.html", _study_context(request, study))


@role_required(Role.RADIOLOGIST)
@require_POST
def worklist_next(request: HttpRequest) -> HttpResponse:
    """Claim the next study in reading order that nobody else holds, and open it."""
    after = request.POST.get("after", "")
    for study in selectors.worklist_for(user=request.user)[:NEXT_SCAN_LIMIT]:
        if str(study.id) == after:
            continue
        try:
            reviews.study_claim(user=request.user, study=study, context=ctx(request))
        except Conflict:
            continue
        return redirect("study-detail", pk=study.id)
    messages.info(request, "Nothing else is waiting for review.")
    return redirect("worklist")


@role_required(Role.CLINICIAN, Role.ADMIN)
@require_POST
def study_cancel(request: HttpRequest, pk: Any) -> HttpResponse:
    """Cancel a study that no worker has started yet."""
    study = selectors.study_get(user=request.user, study_id=pk)
    try:
        studies.study_cancel(user=request.user, study=study, context=ctx(request))
    except DomainError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, "Study cancelled.")
    return redirect("study-detail", pk=study.id)


@role_required(Role.ADMIN)
@require_POST
def study_rerun(request: HttpRequest, pk: Any) -> HttpResponse:
    """Admin: analyse the study again on the current model (adds a prediction, never edits one)."""
    study = selectors.study_get(user=request.user, study_id=pk)
    try:
        studies.study_rerun(user=request.user, study=study, context=ctx(request))
    except DomainError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, "Queued again on the current model; the new result appears here.")
    return redirect("study-detail", pk=study.id)
