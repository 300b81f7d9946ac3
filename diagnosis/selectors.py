"""Reads, each scoped to the user: object-level permission is the queryset itself."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from django.db.models import (
    OuterRef,
    Prefetch,
    Q,
    QuerySet,
    Subquery,
)
from django.db.models.functions import Coalesce, TruncDate
from django.http import Http404

from diagnosis.hooks import result_deliveries_none
from diagnosis.models import Image, Label, Patient, Prediction, Study
from diagnosis.services.scope import visible_patients, visible_studies
from portal.errors import DomainError
from portal.query_params import bool_param, choice_param, date_param
from reading.models import Review


def with_current(queryset: QuerySet[Study]) -> QuerySet[Study]:
    """Attach each study's current prediction and review in two queries, whatever the page size."""
    return queryset.select_related("patient", "created_by", "reading_claimed_by").prefetch_related(
        Prefetch(
            "predictions",
            queryset=Prediction.objects.select_related("operating_profile").order_by("-created_at"),
            to_attr="prediction_list",
        ),
        Prefetch(
            "reviews",
            queryset=Review.objects.select_related("reviewer").order_by("-version"),
            to_attr="review_list",
        ),
        "images",
    )


@dataclass(frozen=True)
class StudyFilters:
    status: str = ""
    priority: str = ""
    patient_mrn: str = ""
    query: str = ""  # patient name, part of an MRN, or part of an accession number
    ai_label: str = ""
    reviewed: bool | None = None
    date_from: date | None = None
    date_to: date | None = None
    study_instance_uid: str = ""


def study_filters(params: Mapping[str, Any]) -> StudyFilters:
    """Filters for the study list."""
    return StudyFilters(
        status=choice_param(params, "status", Study.Status.values),
        priority=choice_param(params, "priority", Study.Priority.values),
        patient_mrn=str(params.get("patient_mrn", ""))[:64],
        query=str(params.get("q", "")).strip()[:100],
        ai_label=choice_param(params, "ai_label", Label.values),
        reviewed=bool_param(params, "reviewed"),
        date_from=date_param(params, "date_from"),
        date_to=date_param(params, "date_to"),
        study_instance_uid=str(params.get("study_instance_uid", "")).strip()[:64],
    )


def prediction_filter(params: Mapping[str, Any]) -> str | None:
    """The ?prediction= id of a heatmap request (a UUID), or None for the current prediction."""
    value = str(params.get("prediction", "")).strip()
    if not value:
        return None
    try:
        return str(uuid.UUID(value))
    except ValueError as exc:
        raise DomainError(
            "prediction must be a prediction id (UUID).",
            code="invalid_filter",
            fields={"prediction": ["a UUID"]},
        ) from exc


def study_list(*, user: Any, filters: StudyFilters | None = None) -> QuerySet[Study]:
    """The studies this user may see, newest first, filtered."""
    filters = filters or StudyFilters()
    queryset = visible_studies(user)
    if filters.status:
        queryset = queryset.filter(status=filters.status)
    if filters.priority:
        queryset = queryset.filter(priority=filters.priority)
    if filters.patient_mrn:
        queryset = queryset.filter(patient__mrn=filters.patient_mrn)
    if filters.study_instance_uid:
        queryset = queryset.filter(study_instance_uid=filters.study_instance_uid)
    if filters.query:
        queryset = queryset.filter(study_search(filters.query))
    if filters.ai_label:
        # The current (latest) prediction's label: a re-run that changed the label must not still match.
        latest = Prediction.objects.filter(study=OuterRef("pk")).order_by("-created_at").values("label")[:1]
        queryset = queryset.annotate(current_ai_label=Subquery(latest)).filter(
            current_ai_label=filters.ai_label
        )
    if filters.reviewed is not None:
        queryset = queryset.filter(reviews__isnull=not filters.reviewed).distinct()
    if filters.date_from:
        queryset = queryset.filter(created_at__date__gte=filters.date_from)
    if filters.date_to:
        queryset = queryset.filter(created_at__date__lte=filters.date_to)
    return with_current(queryset.order_by("-created_at"))


def study_get(*, user: Any, study_id: Any) -> Study:
    """One visible study, or 404 whether it exists or not (no existence leak)."""
    study = with_current(visible_studies(user)).filter(id=study_id).first()
    if study is None:
        raise Http404("No such study.")
    return study


def study_just_created(*, study: Study, images: Sequence[Image]) -> Study:
    """A study this request created with these images, shaped as study_get returns it without reading
    anything back: the upload holds its patient, creator and image rows, and a new study has no
    prediction, review or result delivery yet."""
    study.prediction_list = []  # type: ignore[attr-defined]
    study.review_list = []  # type: ignore[attr-defined]
    # What prefetch_related("images") would leave: the manager's queryset with its rows already in it.
    listed = study.images.all()
    listed._result_cache, listed._prefetch_done = list(images), True  # type: ignore[attr-defined]
    study._prefetched_objects_cache = {"images": listed}  # type: ignore[attr-defined]
    result_deliveries_none(study)
    return study


def current_prediction(study: Study) -> Prediction | None:
    """The study's latest prediction (uses the prefetched list when present)."""
    listed = getattr(study, "prediction_list", None)
    if listed is not None:
        return listed[0] if listed else None
    return study.predictions.order_by("-created_at").first()


def study_search(query: str) -> Q:
    """Studies whose patient's name or MRN, or whose accession number, contains the text (any case)."""
    return (
        Q(patient__name__icontains=query)
        | Q(patient__mrn__icontains=query)
        | Q(accession_number__icontains=query)
    )


def patient_list(*, user: Any, mrn: str = "", query: str = "", accession: bool = False) -> QuerySet[Patient]:
    """Patients this user may see, optionally by exact MRN or a name/MRN search (`accession`: also the
    patients with a study, visible to the user, whose accession number contains the text)."""
    queryset = visible_patients(user)
    if mrn:
        queryset = queryset.filter(mrn=mrn)
    if query:
        found = Q(mrn__icontains=query) | Q(name__icontains=query)
        if accession:
            studies = visible_studies(user).filter(accession_number__icontains=query)
            found |= Q(id__in=studies.values("patient_id"))
        queryset = queryset.filter(found)
    return queryset.order_by("mrn")


def patient_studies(*, user: Any, patient: Patient, exclude: Study | None = None) -> QuerySet[Study]:
    """The patient's studies this user may see, the most recently taken first (study date, else upload)."""
    queryset = visible_studies(user).filter(patient=patient)
    if exclude is not None:
        queryset = queryset.exclude(id=exclude.id)
    taken = Coalesce("study_date", TruncDate("created_at"))
    return with_current(queryset.order_by(taken.desc(), "-created_at"))


def study_for_comparison(*, user: Any, study: Study, other_id: Any) -> Study | None:
    """Another visible study of the same patient to read beside `study`, or None (missing, not the same
    patient, or not the user's to see: all answer alike)."""
    try:
        other_id = uuid.UUID(str(other_id))
    except ValueError:
        return None
    return patient_studies(user=user, patient=study.patient, exclude=study).filter(id=other_id).first()


def patient_get(*, user: Any, patient_id: Any) -> Patient:
    """One visible patient, or 404."""
    patient = visible_patients(user).filter(id=patient_id).first()
    if patient is None:
        raise Http404("No such patient.")
    return patient
