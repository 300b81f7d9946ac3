"""Server-rendered pages: validate, call one service or selector, render."""

from __future__ import annotations

import itertools
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import FileResponse, HttpRequest, HttpResponse, JsonResponse, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.html import format_html
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from diagnosis import selectors
from diagnosis.api.filters import audit_filters, study_filters, worklist_filters
from diagnosis.api.throttling import UploadRateThrottle
from diagnosis.forms import ReviewForm, StudyUploadForm
from diagnosis.models import ReadLabel, Review, Study
from diagnosis.services import reviews, studies
from diagnosis.services.audit import AuditContext, audit_read, audit_record
from diagnosis.services.errors import DomainError
from diagnosis.services.health import health_report
from diagnosis.services.media import media_response
from portal.roles import Role, has_role, roles_of
from portal.spreadsheets import SafeWriter


def role_required(*roles: str) -> Any:
    """Page decorator: logged in and holding one of the roles, else 403."""

    def decorate(view: Any) -> Any:
        @login_required
        def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> Any:
            if not has_role(request.user, *roles):
                raise PermissionDenied("Your role does not allow this page.")
            return view(request, *args, **kwargs)

        wrapped.__name__ = view.__name__
        wrapped.__doc__ = view.__doc__
        return wrapped

    return decorate


ANY_ROLE = (Role.CLINICIAN, Role.RADIOLOGIST, Role.ADMIN)


def ctx(request: HttpRequest) -> AuditContext:
    return AuditContext.from_request(request)


def _audit_page(request: HttpRequest, page: Any, *, action: str, object_type: str) -> None:
    """A page of a list shows PHI: one audit event naming its records (#17 finding 2)."""
    ids = [row.id for row in page.object_list]
    audit_read(
        actor=request.user,
        action=action,
        object_type=object_type,
        ids=ids,
        context=ctx(request),
        query=request.GET.dict(),
    )


@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    """200 when database, broker and model bundle are usable; 503 naming what is not."""
    report = health_report()
    return JsonResponse(report, status=200 if report["ok"] else 503)


@login_required
def home(request: HttpRequest) -> HttpResponse:
    """Send each role to its landing page."""
    held = roles_of(request.user)
    if Role.CLINICIAN in held:
        return redirect("study-list")
    if Role.RADIOLOGIST in held:
        return redirect("worklist")
    if Role.ADMIN in held:
        return redirect("audit")
    return render(request, "diagnosis/no_role.html", status=403)


@role_required(*ANY_ROLE)
def study_list(request: HttpRequest) -> HttpResponse:
    """My recent studies with live status, searchable by MRN."""
    try:
        filters = study_filters(request.GET)
    except DomainError as exc:
        messages.error(request, exc.message)
        filters = study_filters({})
    page = Paginator(selectors.study_list(user=request.user, filters=filters), 25).get_page(
        request.GET.get("page")
    )
    _audit_page(request, page, action="study.list", object_type="study")
    context = {"page": page, "mrn": filters.patient_mrn, "statuses": Study.Status.choices}
    return render(request, "diagnosis/study_list.html", context)


@role_required(Role.CLINICIAN, Role.ADMIN)
@require_http_methods(["GET", "POST"])
def study_upload(request: HttpRequest) -> HttpResponse:
    """The upload form: patient, study details and one image."""
    form = StudyUploadForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and not UploadRateThrottle().allow_request(request, None):
        form.add_error(None, "Too many uploads in a short time. Wait a minute and try again.")
        return render(request, "diagnosis/study_upload.html", {"form": form}, status=429)
    if request.method == "POST" and form.is_valid():
        data = dict(form.cleaned_data)
        image = data.pop("image")
        upload = studies.StudyUpload(image_name=image.name or "", image_data=image.read(), **data)
        try:
            created = studies.study_create(user=request.user, upload=upload, context=ctx(request))
        except DomainError as exc:
            if exc.code == "patient_conflict":
                # Never filed silently: say which entered details differ (not the values on file).
                context = {"form": form, "patient_conflict": patient_conflict_text(upload.patient_mrn, exc)}
                return render(request, "diagnosis/study_upload.html", context, status=409)
            form.add_error("image" if "image" in exc.fields or not exc.fields else None, exc.message)
        else:
            if created.duplicate_of is not None:
                messages.warning(
                    request, f"This image was uploaded before (study {created.duplicate_of.id})."
                )
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


@role_required(*ANY_ROLE)
def study_detail(request: HttpRequest, pk: Any) -> HttpResponse:
    """The study page: image, heatmap, AI result card, review state and history (viewing is audited)."""
    study = selectors.study_get(user=request.user, study_id=pk)
    audit_record(
        actor=request.user, action="study.view", object_type="study", object_id=study.id, context=ctx(request)
    )
    return render(request, "diagnosis/study_detail.html", _study_context(request, study))


def _study_context(request: HttpRequest, study: Study) -> dict[str, Any]:
    prediction = selectors.current_prediction(study)
    review = selectors.current_review(study)
    return {
        "study": study,
        "prediction": prediction,
        "review": review,
        "history": selectors.review_history(study),
        "image": next(iter(study.images.all()), None),
        "review_form": ReviewForm(
            ai_label=prediction.label if prediction else "", amending=review is not None
        ),
        "claim_holder": reviews.claim_holder(study),  # an expired claim shows as none
        "can_review": has_role(request.user, Role.RADIOLOGIST) and study.status == Study.Status.COMPLETED,
    }


@role_required(*ANY_ROLE)
def study_status(request: HttpRequest, pk: Any) -> HttpResponse:
    """Status fragment polled by the study page (not an audited view)."""
    study = selectors.study_get(user=request.user, study_id=pk)
    return render(request, "diagnosis/_study_status.html", {"study": study})


@role_required(*ANY_ROLE)
def study_image(request: HttpRequest, pk: Any) -> FileResponse:
    """The X-ray rendered for the viewer (audited, never cached)."""
    study = selectors.study_get(user=request.user, study_id=pk)
    return media_response(user=request.user, study=study, kind="display", context=ctx(request))


@role_required(*ANY_ROLE)
def study_heatmap(request: HttpRequest, pk: Any) -> FileResponse:
    """The heatmap overlay (audited, never cached)."""
    study = selectors.study_get(user=request.user, study_id=pk)
    return media_response(user=request.user, study=study, kind="heatmap", context=ctx(request))


@role_required(Role.RADIOLOGIST)
@require_POST
def study_claim(request: HttpRequest, pk: Any) -> HttpResponse:
    """Claim a study for reading from the worklist."""
    study = selectors.study_get(user=request.user, study_id=pk)
    try:
        reviews.study_claim(user=request.user, study=study, context=ctx(request))
    except DomainError as exc:
        messages.error(request, exc.message)
        return redirect("worklist")
    return redirect("study-detail", pk=study.id)


@role_required(Role.RADIOLOGIST, Role.ADMIN)
@require_POST
def study_release(request: HttpRequest, pk: Any) -> HttpResponse:
    """Give a reading claim back (an admin may force-release a stuck one)."""
    study = selectors.study_get(user=request.user, study_id=pk)
    try:
        reviews.study_release(user=request.user, study=study, context=ctx(request))
    except DomainError as exc:
        messages.error(request, exc.message)
    return redirect("worklist")


@role_required(Role.RADIOLOGIST)
@require_POST
def study_review(request: HttpRequest, pk: Any) -> HttpResponse:
    """Sign (or amend) the read, then open the next study; an indeterminate one first shows a summary."""
    study = selectors.study_get(user=request.user, study_id=pk)
    prediction = selectors.current_prediction(study)
    review = selectors.current_review(study)
    ai_label = prediction.label if prediction else ""
    form = ReviewForm(request.POST, ai_label=ai_label, amending=review is not None)
    if not form.is_valid():
        problems = [f"{form.fields[n].label or n.title()}: {' '.join(e)}" for n, e in form.errors.items()]
        messages.error(request, "The review form is incomplete. " + " ".join(problems))
        return redirect("study-detail", pk=study.id)
    data = dict(form.cleaned_data)
    if prediction is not None and prediction.indeterminate and not data.pop("confirmed"):
        # Two keystrokes must not sign an uncertain study: show what would be signed, ask again.
        context = {"study": study, "prediction": prediction, "review": review, "data": data}
        context["final_label"] = ReadLabel(ai_label if data["decision"] == "agree" else data["final_label"])
        context["reason_label"] = Review.Reason(data["reason"]).label if data.get("reason") else ""
        return render(request, "diagnosis/review_confirm.html", context)
    data.pop("confirmed", None)
    try:
        signed = reviews.review_submit(user=request.user, study=study, context=ctx(request), **data)
    except DomainError as exc:
        messages.error(request, " ".join([exc.message, *sum(exc.fields.values(), [])]))
        return redirect("study-detail", pk=study.id)
    messages.success(
        request,
        format_html(
            'Signed {} for {}. <a href="{}">Open that study again</a> · <a href="{}">Back to the worklist</a>',
            signed.get_final_label_display(),
            study.patient.mrn,
            reverse("study-detail", args=[study.id]),
            reverse("worklist"),
        ),
    )
    following = reviews.study_claim_next(user=request.user, skip=study.id, context=ctx(request))
    if following is None:
        messages.info(request, "Nothing else is waiting for review.")
        return redirect("worklist")
    return redirect("study-detail", pk=following.id)


@role_required(Role.RADIOLOGIST, Role.ADMIN)
def worklist(request: HttpRequest) -> HttpResponse:
    """Completed, unreviewed studies in reading order, with claim state."""
    try:
        filters = worklist_filters(request.GET)
    except DomainError as exc:
        messages.error(request, exc.message)
        filters = worklist_filters({})
    queryset = selectors.worklist_for(user=request.user, filters=filters)
    page = Paginator(queryset, 50).get_page(request.GET.get("page"))
    _audit_page(request, page, action="worklist.view", object_type="study")
    context = {
        "page": page,
        "total": queryset.count(),
        "params": request.GET,
        "counts": selectors.worklist_counts(user=request.user),
        "orderings": list(selectors.WORKLIST_ORDERINGS),
    }
    return render(request, "diagnosis/worklist.html", context)


@role_required(Role.ADMIN)
def audit(request: HttpRequest) -> HttpResponse:
    """The audit trail with filters; ?format=csv exports (and the export is itself audited)."""
    try:
        filters = audit_filters(request.GET)
    except DomainError as exc:
        messages.error(request, exc.message)
        filters = audit_filters({})
    events = selectors.audit_list(filters=filters)
    if request.GET.get("format") == "csv":
        audit_record(
            actor=request.user,
            action="audit.export",
            object_type="audit",
            after={"filters": request.GET.dict()},
            context=ctx(request),
        )
        return _audit_csv(events)
    page = Paginator(events, 50).get_page(request.GET.get("page"))
    _audit_page(request, page, action="audit.view", object_type="audit")
    context = {"page": page, "params": request.GET, **AUDIT_FILTER_CHOICES}
    return render(request, "diagnosis/audit.html", context)


# Suggestions for the audit page's filters (any prefix may still be typed).
AUDIT_FILTER_CHOICES = {
    "known_actions": [
        *("auth.login", "auth.logout", "auth.login_failed", "auth.token", "patient.create"),
        *("study.upload", "study.view", "study.claim", "study.release", "study.rejected", "study.failed"),
        *("image.view", "image.download", "heatmap.download", "prediction.create"),
        *("review.sign", "review.amend", "audit.export", "audit.verify", "dataset.export"),
        *("user.create", "user.roles_changed", "role.create", "settings.changed"),
        *("study.poll", "study.list", "patient.list", "patient.view", "worklist.view", "audit.view"),
        *("auth.token_revoked", "auth.tokens_revoked"),
    ],
    "object_types": ["user", "group", "patient", "study", "image", "prediction", "audit"],
}


class _Echo:
    def write(self, value: str) -> str:
        return value


def _audit_csv(events: Any) -> StreamingHttpResponse:
    columns = [
        "id",
        "created_at",
        "actor_username",
        "action",
        "object_type",
        "object_id",
        "before",
        "after",
        "reason",
        "ip",
        "user_agent",
        "prev_hash",
        "hash",
    ]
    writer = SafeWriter(_Echo())  # usernames, user agents and notes are attacker text (#17 finding 4)
    # The details are JSON text (#16), not Python dict reprs: parseable by any tool reading the CSV.
    fields = [{"before": "before_json", "after": "after_json"}.get(c, c) for c in columns]
    rows = (writer.writerow([getattr(e, f) for f in fields]) for e in events.iterator())
    response = StreamingHttpResponse(
        itertools.chain([writer.writerow(columns)], rows), content_type="text/csv"
    )
    response["Content-Disposition"] = 'attachment; filename="airspace-audit.csv"'
    response["Cache-Control"] = "private, no-store"
    return response
