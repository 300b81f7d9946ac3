"""The REST API (/api/v1/): thin views that validate, call one service or selector, and serialise."""

from __future__ import annotations

from typing import Any

import knox.auth
from django.contrib.auth import authenticate
from django.http import FileResponse, HttpRequest
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import generics, status
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from diagnosis import permissions, selectors
from diagnosis.api import schema as api_schema
from diagnosis.api import serializers as s
from diagnosis.api.filters import audit_filters, prediction_filter, study_filters, worklist_filters
from diagnosis.api.study_images import uploaded_images
from diagnosis.api.throttling import SettingsScopedRateThrottle, UploadRateThrottle
from diagnosis.services import reviews, studies
from diagnosis.services.audit import AuditContext, audit_read, audit_record
from diagnosis.services.errors import DomainError
from diagnosis.services.media import media_response
from diagnosis.services.patients import patient_get_or_create
from diagnosis.services.study_images import study_create_with_images
from portal.tokens import token_issue, token_revoke


def ctx(request: Request | HttpRequest) -> AuditContext:
    """The audit context of an API request."""
    return AuditContext.from_request(request)


class TokenView(APIView):
    """Exchange a username and password for an API token (throttled; failures audited and locked out)."""

    permission_classes = [AllowAny]
    authentication_classes: list[Any] = []
    throttle_classes = [SettingsScopedRateThrottle]
    throttle_scope = "auth"

    @extend_schema(request=s.TokenInputSerializer, responses={200: s.TokenSerializer})
    def post(self, request: Request) -> Response:
        data = s.TokenInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        user = authenticate(request._request, **data.validated_data)
        if user is None or not user.is_active:
            raise DomainError("Unable to log in with those credentials.", code="invalid_credentials")
        token, expiry = token_issue(user=user, context=ctx(request))
        return Response({"token": token, "expiry": expiry})


class LogoutView(APIView):
    """Revoke the token that calls this (204); the token is refused (401) from then on."""

    authentication_classes = [knox.auth.TokenAuthentication]  # a session has its own /logout/
    permission_classes = [IsAuthenticated]

    @extend_schema(request=None, responses={204: None})
    def post(self, request: Request) -> Response:
        token_revoke(token=request.auth, actor=request.user, context=ctx(request))
        return Response(status=status.HTTP_204_NO_CONTENT)


class AuditedListMixin:
    """A list endpoint of PHI records: each page returned is one audit event naming its records."""

    audit_action = ""
    audit_object_type = ""

    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        response = super().list(request, *args, **kwargs)  # type: ignore[misc]
        audit_read(
            actor=request.user,
            action=self.audit_action,
            object_type=self.audit_object_type,
            ids=[row["id"] for row in response.data["results"]],
            context=ctx(request),
            query=request.query_params.dict(),
        )
        return response


@extend_schema_view(get=extend_schema(parameters=api_schema.STUDY_FILTERS))
class StudyListCreateView(AuditedListMixin, generics.ListAPIView):
    """List the studies you may see (filtered), or upload a new study (clinician or admin)."""

    serializer_class = s.StudySerializer
    parser_classes = [MultiPartParser, FormParser]
    audit_action, audit_object_type = "study.list", "study"

    def get_permissions(self) -> list[Any]:
        return [permissions.Uploader()] if self.request.method == "POST" else [permissions.AnyRole()]

    def get_throttles(self) -> list[Any]:
        return [UploadRateThrottle()] if self.request.method == "POST" else []

    def get_queryset(self) -> Any:
        return selectors.study_list(user=self.request.user, filters=study_filters(self.request.query_params))

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
        studies.upload_size_check(image.size)
        upload = studies.StudyUpload(image_name=image.name or "", image_data=image.read(), **data)
        key = request.headers.get("Idempotency-Key", "")[:128]
        created = study_create_with_images(
            user=request.user,
            upload=upload,
            extra_images=[(f.name or "", f.read()) for f in extra],
            idempotency_key=key,
            context=ctx(request),
        )
        if created.created:
            study = selectors.study_just_created(study=created.study)
        else:
            study = selectors.study_get(user=request.user, study_id=created.study.id)
        code = status.HTTP_201_CREATED if created.created else status.HTTP_200_OK
        return Response(s.StudySerializer(study).data, status=code)


class StudyDetailView(APIView):
    """One study with its current prediction and review. Audited: `study.view`, or `study.poll` with ?poll=1."""

    permission_classes = [permissions.AnyRole]

    @extend_schema(
        responses=s.StudySerializer,
        parameters=[OpenApiParameter("poll", bool, description="status polling (audited as study.poll)")],
    )
    def get(self, request: Request, pk: Any) -> Response:
        study = selectors.study_get(user=request.user, study_id=pk)
        etag = f'"{study.updated_at.timestamp()}-{len(selectors.review_history(study))}"'
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
        return Response(s.StudySerializer(study).data, headers={"ETag": etag})


class StudyActionView(APIView):
    """Base for POST actions on one visible study."""

    def study(self, request: Request, pk: Any) -> Any:
        return selectors.study_get(user=request.user, study_id=pk)

    def answer(self, request: Request, pk: Any) -> Response:
        return Response(s.StudySerializer(selectors.study_get(user=request.user, study_id=pk)).data)


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


class StudyClaimView(StudyActionView):
    """Claim a study for reading: 200 for the winner, 409 naming the holder for anyone else."""

    permission_classes = [permissions.Radiologist]

    @extend_schema(request=None, responses=s.StudySerializer)
    def post(self, request: Request, pk: Any) -> Response:
        reviews.study_claim(user=request.user, study=self.study(request, pk), context=ctx(request))
        return self.answer(request, pk)


class StudyReleaseView(StudyActionView):
    """Release your reading claim (an admin may force-release a stuck one)."""

    permission_classes = [permissions.Reader]

    @extend_schema(request=None, responses=s.StudySerializer)
    def post(self, request: Request, pk: Any) -> Response:
        reviews.study_release(user=request.user, study=self.study(request, pk), context=ctx(request))
        return self.answer(request, pk)


class StudyReviewView(StudyActionView):
    """Sign a review (agree or override with a reason); a second review is an amendment (new version)."""

    permission_classes = [permissions.Radiologist]

    @extend_schema(request=s.ReviewInputSerializer, responses={201: s.ReviewSerializer})
    def post(self, request: Request, pk: Any) -> Response:
        form = s.ReviewInputSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        review = reviews.review_submit(
            user=request.user, study=self.study(request, pk), context=ctx(request), **form.validated_data
        )
        return Response(s.ReviewSerializer(review).data, status=status.HTTP_201_CREATED)


class StudyImageView(APIView):
    """Download the study's image (authenticated, scoped, audited, never cached)."""

    permission_classes = [permissions.AnyRole]

    @extend_schema(responses=api_schema.IMAGE_RESPONSES)
    def get(self, request: Request, pk: Any) -> FileResponse:
        study = selectors.study_get(user=request.user, study_id=pk)
        return media_response(user=request.user, study=study, kind="image", context=ctx(request))


class StudyHeatmapView(APIView):
    """Download the prediction's heatmap overlay PNG (scoped, audited, never cached)."""

    permission_classes = [permissions.AnyRole]

    @extend_schema(
        responses={(200, "image/png"): bytes},
        parameters=[
            OpenApiParameter("prediction", OpenApiTypes.UUID, description="prediction id (default current)")
        ],
    )
    def get(self, request: Request, pk: Any) -> FileResponse:
        study = selectors.study_get(user=request.user, study_id=pk)
        return media_response(
            user=request.user,
            study=study,
            kind="heatmap",
            context=ctx(request),
            prediction_id=prediction_filter(request.query_params),
        )


@extend_schema_view(
    get=extend_schema(parameters=api_schema.WORKLIST_FILTERS, responses=api_schema.WORKLIST_PAGE)
)
class WorklistView(AuditedListMixin, generics.ListAPIView):
    """Completed, unreviewed studies in reading order (escalated, urgent, AI priority, waiting time)."""

    permission_classes = [permissions.Reader]
    serializer_class = s.WorklistStudySerializer
    audit_action, audit_object_type = "worklist.view", "study"

    def get_queryset(self) -> Any:
        return selectors.worklist_for(
            user=self.request.user, filters=worklist_filters(self.request.query_params)
        )

    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        """The page envelope plus `counts`: badges for the whole (unfiltered) worklist."""
        response = super().list(request, *args, **kwargs)
        response.data["counts"] = selectors.worklist_counts(user=request.user)
        return response


class WorklistSummaryView(APIView):
    """Worklist badges (total, urgent, escalated, indeterminate, my claims) and the review policy."""

    permission_classes = [permissions.Reader]

    @extend_schema(responses={200: OpenApiTypes.OBJECT})
    def get(self, request: Request) -> Response:
        return Response(
            {
                "counts": selectors.worklist_counts(user=request.user),
                "review_reasons": [{"code": c, "label": t} for c, t in reviews.review_reasons()],
                "claim_minutes": reviews.settings.AIRSPACE_CLAIM_MINUTES,
                "escalate_after_minutes": reviews.settings.AIRSPACE_ESCALATE_AFTER_MINUTES,
            }
        )


@extend_schema_view(get=extend_schema(parameters=api_schema.PATIENT_FILTERS))
class PatientListCreateView(AuditedListMixin, generics.ListAPIView):
    """Search patients by MRN (?mrn= exact, ?q= contains), or create one (clinician or admin)."""

    serializer_class = s.PatientSerializer
    audit_action, audit_object_type = "patient.list", "patient"

    def get_permissions(self) -> list[Any]:
        return [permissions.Uploader()] if self.request.method == "POST" else [permissions.AnyRole()]

    def get_queryset(self) -> Any:
        params = self.request.query_params
        return selectors.patient_list(
            user=self.request.user, mrn=params.get("mrn", ""), query=params.get("q", "")
        )

    @extend_schema(
        request=s.PatientInputSerializer, responses={201: s.PatientSerializer, 200: s.PatientSerializer}
    )
    def post(self, request: Request) -> Response:
        """201 with a new record in your scope; 200 with the one your scope already has for this MRN."""
        form = s.PatientInputSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        patient, created = patient_get_or_create(
            user=request.user, context=ctx(request), **form.validated_data
        )
        if not created:  # the existing record is shown: a read (a new one is audited as patient.create)
            _audit_patient_view(request, patient)
        code = status.HTTP_201_CREATED if created else status.HTTP_200_OK
        return Response(s.PatientSerializer(patient).data, status=code)


def _audit_patient_view(request: Request, patient: Any) -> None:
    audit_record(
        actor=request.user,
        action="patient.view",
        object_type="patient",
        object_id=patient.id,
        context=ctx(request),
    )


class PatientDetailView(APIView):
    """One patient you may see."""

    permission_classes = [permissions.AnyRole]

    @extend_schema(responses=s.PatientSerializer)
    def get(self, request: Request, pk: Any) -> Response:
        patient = selectors.patient_get(user=request.user, patient_id=pk)
        _audit_patient_view(request, patient)
        return Response(s.PatientSerializer(patient).data)


@extend_schema_view(get=extend_schema(parameters=api_schema.AUDIT_FILTERS))
class AuditListView(AuditedListMixin, generics.ListAPIView):
    """Admin: audit events, newest first, filterable by actor, action, object and date."""

    permission_classes = [permissions.Admin]
    serializer_class = s.AuditEventSerializer
    # Events carry MRNs and names (patient.create, study.upload): reading them is a read of PHI too.
    audit_action, audit_object_type = "audit.view", "audit"

    def get_queryset(self) -> Any:
        return selectors.audit_list(filters=audit_filters(self.request.query_params))
