"""The worklist page and "next study": completed, unreviewed studies in reading order."""

from __future__ import annotations

import uuid

from django.contrib import messages
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from audit.services.events import audit_page_read, ctx
from portal.errors import DomainError
from portal.roles import Role, role_required
from reading import selectors
from reading.services import claims


@role_required(Role.RADIOLOGIST, Role.ADMIN)
def worklist(request: HttpRequest) -> HttpResponse:
    """Completed, unreviewed studies in reading order, with claim state."""
    try:
        filters = selectors.worklist_filters(request.GET)
    except DomainError as exc:
        messages.error(request, exc.message)
        filters = selectors.worklist_filters({})
    queryset = selectors.worklist_for(user=request.user, filters=filters)
    page = Paginator(queryset, 50).get_page(request.GET.get("page"))
    audit_page_read(request=request, page=page, action="worklist.view", object_type="study")
    context = {
        "page": page,
        "total": queryset.count(),
        "params": request.GET,
        "counts": selectors.worklist_counts(user=request.user),
        "orderings": list(selectors.WORKLIST_ORDERINGS),
    }
    return render(request, "reading/worklist.html", context)


@role_required(Role.RADIOLOGIST)
@require_POST
def worklist_next(request: HttpRequest) -> HttpResponse:
    """Give back the study being skipped, claim the next one in reading order that nobody holds, open it."""
    try:
        skip = uuid.UUID(request.POST.get("after", ""))
    except ValueError:
        skip = None
    study = claims.reading_claim_next(user=request.user, skip=skip, context=ctx(request))
    if study is None:
        messages.info(request, "Nothing else is waiting for review.")
        return redirect("worklist")
    return redirect("study-detail", pk=study.id)
