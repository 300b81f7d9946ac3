"""The no-JavaScript upload form: patient, study details and the images."""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods

from audit.services.events import ctx
from diagnosis.forms import StudyUploadForm
from diagnosis.services import admission, studies
from portal.errors import DomainError
from portal.roles import Role, role_required
from portal.throttling import UploadRateThrottle


@role_required(Role.CLINICIAN, Role.ADMIN)
@require_http_methods(["GET", "POST"])
def study_upload(request: HttpRequest) -> HttpResponse:
    """The upload form: patient, study details, the image to analyse and any further views."""
    form = StudyUploadForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and not UploadRateThrottle().allow_request(request, None):
        form.add_error(None, "Too many uploads in a short time. Wait a minute and try again.")
        return render(request, "diagnosis/study_upload.html", {"form": form}, status=429)
    if request.method == "POST" and form.is_valid():
        data = dict(form.cleaned_data)
        image, extra = data.pop("image"), data.pop("images")
        upload = studies.StudyUpload(image_name=image.name or "", image_data=image.read(), **data)
        try:
            created = studies.study_create(
                user=request.user,
                upload=upload,
                extra_images=[(f.name or "", f.read()) for f in extra],
                context=ctx(request),
            )
        except DomainError as exc:
            if exc.code == "patient_conflict":
                # Never filed silently: say which entered details differ (not the values on file).
                context = {"form": form, "patient_conflict": patient_conflict_text(upload.patient_mrn, exc)}
                return render(request, "diagnosis/study_upload.html", context, status=409)
            field = (
                "images"
                if "images" in exc.fields
                else "image"
                if "image" in exc.fields or not exc.fields
                else None
            )
            form.add_error(field, exc.message)
        else:
            if created.duplicate_of is not None:
                messages.warning(
                    request, f"This image was uploaded before (study {created.duplicate_of.id})."
                )
            admission.upload_admitted()  # under overload the answer waits; the study is queued already
            return redirect("study-detail", pk=created.study.id)
    status = 400 if request.method == "POST" else 200
    return render(request, "diagnosis/study_upload.html", {"form": form}, status=status)


def patient_conflict_text(mrn: str, exc: DomainError) -> str:
    """The upload page's sentence for a patient_conflict: which details differ, never the values on file."""
    words = " and ".join({"name": "name", "birth_date": "birth date"}.get(f, f) for f in exc.fields)
    return (
        f"A patient with MRN {mrn} is already on file with a different {words or 'details'}. Check that this "
        "is the right patient. Correct the MRN or the details, or file this study under the patient on file."
    )
