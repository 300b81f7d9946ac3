"""Patient pages: search (name, part of an MRN, accession) and one patient's studies with the age at each."""

from __future__ import annotations

from typing import Any

from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from audit.services.events import audit_page_read, audit_rows_read, audit_view
from diagnosis import selectors
from portal.roles import ANY_ROLE, role_required


@role_required(*ANY_ROLE)
def patient_list(request: HttpRequest) -> HttpResponse:
    """Patients the user may see, searched by name, part of an MRN or an accession number (audited)."""
    query = str(request.GET.get("q", "")).strip()[:100]
    patients = selectors.patient_list(user=request.user, query=query, accession=True)
    page = Paginator(patients.prefetch_related("studies"), 25).get_page(request.GET.get("page"))
    audit_page_read(request=request, page=page, action="patient.list", object_type="patient")
    return render(request, "diagnosis/patient_list.html", {"page": page, "query": query})


@role_required(*ANY_ROLE)
def patient_detail(request: HttpRequest, pk: Any) -> HttpResponse:
    """One patient and the studies the user may see, each with the age at its date (audited)."""
    patient = selectors.patient_get(user=request.user, patient_id=pk)
    studies = list(selectors.patient_studies(user=request.user, patient=patient))
    audit_view(request=request, action="patient.view", object_type="patient", object_id=patient.id)
    audit_rows_read(
        request=request, rows=studies, action="study.list", object_type="study", patient=str(patient.id)
    )
    return render(request, "diagnosis/patient_detail.html", {"patient": patient, "studies": studies})
