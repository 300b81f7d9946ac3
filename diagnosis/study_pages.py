"""Study page fragments and the radiologist's "next study": thin views over selectors and services."""

from __future__ import annotations

import uuid
from typing import Any

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from diagnosis import selectors
from diagnosis.services import reviews, studies
from diagnosis.services.audit import audit_record
from diagnosis.services.errors import DomainError
from diagnosis.views import ANY_ROLE, _study_context, ctx, role_required
from portal.roles import Role


@role_required(*ANY_ROLE)
def study_panels(request: HttpRequest, pk: Any) -> HttpResponse:
    """Controls, viewer and result panels, swapped in when the status changes (PHI: audited as a poll)."""
    study = selectors.study_get(user=request.user, study_id=pk)
    audit_record(
        actor=request.user, action="study.poll", object_type="study", object_id=study.id, context=ctx(request)
    )
    return render(request, "diagnosis/_study_panels.html", _study_context(request, study))


@role_required(Role.RADIOLOGIST)
@require_POST
def worklist_next(request: HttpRequest) -> HttpResponse:
    """Give back the study being skipped, claim the next one in reading order that nobody holds, open it."""
    try:
        skip = uuid.UUID(request.POST.get("after", ""))
    except ValueError:
        skip = None
    study = reviews.study_claim_next(user=request.user, skip=skip, context=ctx(request))
    if study is None:
        messages.info(request, "Nothing else is waiting for review.")
        return redirect("worklist")
    return redirect("study-detail", pk=study.id)


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
