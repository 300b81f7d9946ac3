"""Reading claims from the pages: take a study for reading, or give it back."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.views.decorators.http import require_POST

from audit.services.events import ctx
from diagnosis import selectors as study_selectors
from portal.errors import DomainError
from portal.roles import Role, role_required
from reading.services import claims


@role_required(Role.RADIOLOGIST)
@require_POST
def study_claim(request: HttpRequest, pk: Any) -> HttpResponse:
    """Claim a study for reading from the worklist."""
    study = study_selectors.study_get(user=request.user, study_id=pk)
    try:
        claims.reading_claim_take(user=request.user, study=study, context=ctx(request))
    except DomainError as exc:
        messages.error(request, exc.message)
        return redirect("worklist")
    return redirect("study-detail", pk=study.id)


@role_required(Role.RADIOLOGIST, Role.ADMIN)
@require_POST
def study_release(request: HttpRequest, pk: Any) -> HttpResponse:
    """Give a reading claim back (an admin may force-release a stuck one)."""
    study = study_selectors.study_get(user=request.user, study_id=pk)
    try:
        claims.reading_claim_release(user=request.user, study=study, context=ctx(request))
    except DomainError as exc:
        messages.error(request, exc.message)
    return redirect("worklist")
