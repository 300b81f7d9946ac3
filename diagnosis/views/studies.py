"""Study pages: the list, the study page and its live panels, cancel and re-run."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from audit.services.events import audit_page_read, audit_record, audit_rows_read, audit_view, ctx
from diagnosis import selectors
from diagnosis.hooks import result_deliveries
from diagnosis.models import Study
from diagnosis.services import studies
from integrations.selectors import ehr_deliveries
from portal.errors import DomainError
from portal.roles import ANY_ROLE, Role, has_role, role_required
from reading.forms import ReviewForm
from reading.selectors import current_review, review_history
from reading.services.claims import reading_claim_holder


@role_required(*ANY_ROLE)
def study_list(request: HttpRequest) -> HttpResponse:
    """My recent studies with live status, searchable by MRN."""
    try:
        filters = selectors.study_filters(request.GET)
    except DomainError as exc:
        messages.error(request, exc.message)
        filters = selectors.study_filters({})
    page = Paginator(selectors.study_list(user=request.user, filters=filters), 25).get_page(
        request.GET.get("page")
    )
    audit_page_read(request=request, page=page, action="study.list", object_type="study")
    context = {
        "page": page,
        "mrn": filters.patient_mrn,
        "query": filters.query,
        "statuses": Study.Status.choices,
    }
    return render(request, "diagnosis/study_list.html", context)


@role_required(*ANY_ROLE)
def study_detail(request: HttpRequest, pk: Any) -> HttpResponse:
    """The study page: image, heatmap, AI result card, review state and history (viewing is audited)."""
    study = selectors.study_get(user=request.user, study_id=pk)
    audit_record(
        actor=request.user, action="study.view", object_type="study", object_id=study.id, context=ctx(request)
    )
    priors = list(selectors.patient_studies(user=request.user, patient=study.patient, exclude=study))
    audit_rows_read(
        request=request, rows=priors, action="study.list", object_type="study", priors_of=str(study.id)
    )
    context = _study_context(request, study)
    if request.GET.get("compare") and context["compare"] is None:
        messages.error(request, "That study cannot be shown beside this one.")
    return render(request, "diagnosis/study_detail.html", {**context, "priors": priors})


def _comparison(request: HttpRequest, study: Study) -> Study | None:
    """The study of the same patient asked for with ?compare=, audited as a view, else None."""
    if not request.GET.get("compare"):
        return None
    other = selectors.study_for_comparison(user=request.user, study=study, other_id=request.GET["compare"])
    if other is not None:
        audit_view(
            request=request,
            action="study.view",
            object_type="study",
            object_id=other.id,
            compared_with=str(study.id),
        )
    return other


def _study_context(request: HttpRequest, study: Study) -> dict[str, Any]:
    """What the study page and its live panels show: the images, the AI result and the read."""
    prediction = selectors.current_prediction(study)
    review = current_review(study)
    return {
        "study": study,
        "prediction": prediction,
        "review": review,
        "history": review_history(study),
        "image": _analysed_image(study, prediction),
        "review_form": ReviewForm(
            ai_label=prediction.label if prediction else "", amending=review is not None
        ),
        "claim_holder": reading_claim_holder(study),  # an expired claim shows as none
        "can_review": has_role(request.user, Role.RADIOLOGIST) and study.status == Study.Status.COMPLETED,
        # HL7 result deliveries: shown to admins and to clinicians (who may see this study).
        "ehr_deliveries": ehr_deliveries(study) if has_role(request.user, Role.ADMIN, Role.CLINICIAN) else [],
        # Result objects back to the PACS (pacs app, through diagnosis.hooks): same audience.
        "dicom_deliveries": result_deliveries(study)
        if has_role(request.user, Role.ADMIN, Role.CLINICIAN)
        else [],
        "compare": _comparison(request, study),
    }


def _analysed_image(study: Study, prediction: Any) -> Any:
    """The view the AI analysed (its heatmap overlays it), else the first uploaded (prefetched images)."""
    images = list(study.images.all())
    analysed = next((i for i in images if prediction and i.id == prediction.image_id), None)
    return analysed or next(iter(images), None)


@role_required(*ANY_ROLE)
def study_status(request: HttpRequest, pk: Any) -> HttpResponse:
    """Status fragment polled by the study page (not an audited view)."""
    study = selectors.study_get(user=request.user, study_id=pk)
    return render(request, "diagnosis/_study_status.html", {"study": study})


@role_required(*ANY_ROLE)
def study_panels(request: HttpRequest, pk: Any) -> HttpResponse:
    """Controls, viewer and result panels, swapped in when the status changes (PHI: audited as a poll)."""
    study = selectors.study_get(user=request.user, study_id=pk)
    audit_record(
        actor=request.user, action="study.poll", object_type="study", object_id=study.id, context=ctx(request)
    )
    return render(request, "diagnosis/_study_panels.html", _study_context(request, study))


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
