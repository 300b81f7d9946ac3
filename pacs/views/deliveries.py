"""The study page's retry button for a failed result delivery to a DICOM node."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.views.decorators.http import require_POST

from audit.services.events import ctx
from diagnosis import selectors
from pacs.selectors import dicom_delivery_get
from pacs.services.deliveries import dicom_delivery_retry
from portal.errors import DomainError
from portal.roles import Role, role_required


@role_required(Role.ADMIN)
@require_POST
def dicom_delivery_retry_view(request: HttpRequest, pk: Any, delivery_id: int) -> HttpResponse:
    """Admin: send a failed DICOM delivery again (audited `dicom.retry`), back to the study page."""
    study = selectors.study_get(user=request.user, study_id=pk)
    delivery = dicom_delivery_get(study=study, delivery_id=delivery_id)
    try:
        dicom_delivery_retry(delivery=delivery, actor=request.user, context=ctx(request))
    except DomainError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, "PACS delivery queued again.")
    return redirect("study-detail", pk=study.id)
