"""A study's pixels on the API: its image, any one of its images, and a prediction's heatmap."""

from __future__ import annotations

from typing import Any

from django.http.response import HttpResponseBase
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.request import Request
from rest_framework.views import APIView

from audit.services.events import ctx
from diagnosis import selectors
from diagnosis.services.media import image_download, media_response, study_image_open
from portal.api import permissions

# The stored original is served as uploaded: JPEG, PNG or DICOM.
IMAGE_RESPONSES = {
    (200, content_type): OpenApiTypes.BINARY
    for content_type in ("image/jpeg", "image/png", "application/dicom", "application/octet-stream")
}


class StudyImageItemView(APIView):
    """Download one image of a study by id (authenticated, scoped, audited, never cached)."""

    permission_classes = [permissions.AnyRole]

    @extend_schema(responses=IMAGE_RESPONSES)
    def get(self, request: Request, pk: Any, image_id: Any) -> HttpResponseBase:
        study = selectors.study_get(user=request.user, study_id=pk)
        image = study_image_open(user=request.user, study=study, image_id=image_id, context=ctx(request))
        return image_download(image, filename=f"image-{image.id}{image.file.name[-4:]}")


class StudyImageView(APIView):
    """Download the study's image (authenticated, scoped, audited, never cached)."""

    permission_classes = [permissions.AnyRole]

    @extend_schema(responses=IMAGE_RESPONSES)
    def get(self, request: Request, pk: Any) -> HttpResponseBase:
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
    def get(self, request: Request, pk: Any) -> HttpResponseBase:
        study = selectors.study_get(user=request.user, study_id=pk)
        return media_response(
            user=request.user,
            study=study,
            kind="heatmap",
            context=ctx(request),
            prediction_id=selectors.prediction_filter(request.query_params),
        )
