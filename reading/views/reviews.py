"""Signing (or amending) a read from the study page."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.html import format_html
from django.views.decorators.http import require_POST

from audit.services.events import ctx
from diagnosis import selectors as study_selectors
from portal.errors import DomainError
from portal.roles import Role, role_required
from reading.forms import ReviewForm
from reading.models import ReadLabel, Review
from reading.selectors import current_review
from reading.services import claims, reviews


@role_required(Role.RADIOLOGIST)
@require_POST
def study_review(request: HttpRequest, pk: Any) -> HttpResponse:
    """Sign (or amend) the read, then open the next study; an indeterminate one first shows a summary."""
    study = study_selectors.study_get(user=request.user, study_id=pk)
    prediction = study_selectors.current_prediction(study)
    review = current_review(study)
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
        return render(request, "reading/review_confirm.html", context)
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
    following = claims.reading_claim_next(user=request.user, skip=study.id, context=ctx(request))
    if following is None:
        messages.info(request, "Nothing else is waiting for review.")
        return redirect("worklist")
    return redirect("study-detail", pk=following.id)
