"""Pages of the integrations app: the study page's EHR delivery retry button."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.views.decorators.http import require_POST

from audit.services.events import ctx
from diagnosis import selectors
from integrations.selectors import ehr_delivery_get
from integrations.services.hl7 import hl7_delivery_retry
from portal.errors import DomainError
from portal.roles import Role, role_required


@role_required(Role.ADMIN)
@require_POST
def ehr_delivery_retry(request: HttpRequest, pk: Any, delivery_id: int) -> HttpResponse:
    """Admin: send a failed HL7 delivery again (audited `hl7.retry`), back to the study page."""
    study = selectors.study_get(user=request.user, study_id=pk)
    delivery = ehr_delivery_get(study=study, delivery_id=delivery_id)
    try:
        hl7_delivery_retry(delivery=delivery, actor=request.user, context=ctx(request))
    except DomainError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, "EHR delivery queued again.")
    return redirect("study-detail", pk=study.id)
