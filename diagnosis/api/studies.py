"""Studies on the API: list, upload (one or several images), detail, cancel and re-run."""

from __future__ import annotations

from typing import Any

from django.core.files.uploadedfile import UploadedFile
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import generics, status
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from audit.services.events import audit_record, ctx
from diagnosis import selectors
from diagnosis.api import serializers as s
from diagnosis.models import Label, Study
from diagnosis.services import admission, studies
from diagnosis.services.images import upload_size_check
from portal.api import permissions
from portal.api.audited import AuditedListMixin
from portal.api.schema import DATE_RANGE, query_param
from portal.throttling import UploadRateThrottle
from reading.selectors import review_history

STUDY_FILTERS = [
    query_param("status", "Study status.", enum=Study.Status.values),
    query_param("priority", "Clinical priority.", enum=Study.Priority.values),
    query_param("patient_mrn", "Exact patient MRN."),
    query_param("q", "Patient name, part of an MRN, or part of an accession number (any case)."),
    query_param(
        "study_instance_uid", "Exact DICOM StudyInstanceUID (studies received over DICOM or STOW-RS)."
    ),
    query_param("ai_label", "Label of any AI prediction on the study.", enum=Label.values),
    query_param("reviewed", "Whether a radiologist has signed a review.", OpenApiTypes.BOOL),
    *DATE_RANGE,
]


def uploaded_images(request: Request) -> list[UploadedFile]:
    """The upload's files in order: `image` (repeatable) first, then `images`; the first is analysed."""
    return [*request.FILES.getlist("image"), *request.FILES.getlist("images")]


@extend_schema_view(get=extend_schema(parameters=STUDY_FILTERS))
class StudyListCreateView(AuditedListMixin, generics.ListAPIView):
    """List the studies you may see (filtered), or upload a new study (clinician or admin)."""

    audit_action, audit_object_type = "study.list", "study"

    serializer_class = s.StudySerializer
    parser_classes = [MultiPartParser, FormParser]

    def get_throttles(self) -> list[Any]:
        return [UploadRateThrottle()] if self.request.method == "POST" else []

    def get_permissions(self) -> list[Any]:
        return [permissions.Uploader()] if self.request.method == "POST" else [permissions.AnyRole()]

    def get_queryset(self) -> Any:
        return selectors.study_list(
            user=self.request.user, filters=selectors.study_filters(self.request.query_params)
        )

    @extend_schema(
        parameters=[OpenApiParameter("Idempotency-Key", str, OpenApiParameter.HEADER)],
        request=s.StudyUploadSerializer,
        responses={201: s.StudySerializer, 200: s.StudySerializer},
    )
    def post(self, request: Request) -> Response:
        form = s.StudyUploadSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        data = dict(form.validated_data)
        # The validated files again, in upload order (a repeated `image` field counts too).
        data.pop("image"), data.pop("images", None)
        image, *extra = uploaded_images(request)
        upload_size_check(image.size)
        upload = studies.StudyUpload(image_name=image.name or "", image_data=image.read(), **data)
        key = request.headers.get("Idempotency-Key", "")[:128]
        created = studies.study_create(
            user=request.user,
            upload=upload,
            extra_images=[(f.name or "", f.read()) for f in extra],
            idempotency_key=key,
            context=ctx(request),
        )
        if created.created:
            study = selectors.study_just_created(study=created.study, images=created.images)
            admission.upload_admitted()  # under overload the answer waits; the study is queued already
        else:
            study = selectors.study_get(user=request.user, study_id=created.study.id)
        code = status.HTTP_201_CREATED if created.created else status.HTTP_200_OK
        return Response(s.study_data(study), status=code)


class StudyDetailView(APIView):
    """One study with its current prediction and review. Audited: `study.view`, or `study.poll` with ?poll=1."""

    permission_classes = [permissions.AnyRole]

    @extend_schema(
        responses=s.StudySerializer,
        parameters=[OpenApiParameter("poll", bool, description="status polling (audited as study.poll)")],
    )
    def get(self, request: Request, pk: Any) -> Response:
        study = selectors.study_get(user=request.user, study_id=pk)
        etag = f'"{study.updated_at.timestamp()}-{len(review_history(study))}"'
        if request.headers.get("If-None-Match") == etag:
            return Response(status=status.HTTP_304_NOT_MODIFIED, headers={"ETag": etag})
        # Every answer with a body carries PHI, polls included (one insert each; a 304 has no body).
        polling = request.query_params.get("poll") in ("1", "true")
        audit_record(
            actor=request.user,
            action="study.poll" if polling else "study.view",
            object_type="study",
            object_id=study.id,
            context=ctx(request),
        )
        return Response(s.study_data(study), headers={"ETag": etag})


class StudyActionView(APIView):
    """Base for POST actions on one visible study."""

    def study(self, request: Request, pk: Any) -> Any:
        return selectors.study_get(user=request.user, study_id=pk)

    def answer(self, request: Request, pk: Any) -> Response:
        return Response(s.study_data(selectors.study_get(user=request.user, study_id=pk)))


class StudyCancelView(StudyActionView):
    """Cancel a queued study."""

    permission_classes = [permissions.Uploader]

    @extend_schema(request=None, responses=s.StudySerializer)
    def post(self, request: Request, pk: Any) -> Response:
        studies.study_cancel(user=request.user, study=self.study(request, pk), context=ctx(request))
        return self.answer(request, pk)


class StudyRerunView(StudyActionView):
    """Admin: run the study again on the current model (adds a prediction, never edits one)."""

    permission_classes = [permissions.Admin]

    @extend_schema(request=None, responses={202: s.StudySerializer})
    def post(self, request: Request, pk: Any) -> Response:
        studies.study_rerun(user=request.user, study=self.study(request, pk), context=ctx(request))
        response = self.answer(request, pk)
        response.status_code = status.HTTP_202_ACCEPTED
        return response
