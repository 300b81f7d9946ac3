"""Several images per study on the API: collecting the uploaded files, and downloading any one image."""

from __future__ import annotations

from typing import Any

from django.core.files.uploadedfile import UploadedFile
from django.http import FileResponse
from drf_spectacular.utils import extend_schema
from rest_framework.request import Request
from rest_framework.views import APIView

from diagnosis import permissions, selectors
from diagnosis.api.schema import IMAGE_RESPONSES
from diagnosis.services.audit import AuditContext
from diagnosis.services.study_images import study_image_open

_CONTENT_TYPES = {"JPEG": "image/jpeg", "PNG": "image/png", "DICOM": "application/dicom"}


def uploaded_images(request: Request) -> list[UploadedFile]:
    """The upload's files in order: `image` (repeatable) first, then `images`; the first is analysed."""
    return [*request.FILES.getlist("image"), *request.FILES.getlist("images")]


class StudyImageItemView(APIView):
    """Download one image of a study by id (authenticated, scoped, audited, never cached)."""

    permission_classes = [permissions.AnyRole]

    @extend_schema(responses=IMAGE_RESPONSES)
    def get(self, request: Request, pk: Any, image_id: Any) -> FileResponse:
        study = selectors.study_get(user=request.user, study_id=pk)
        image = study_image_open(
            user=request.user, study=study, image_id=image_id, context=AuditContext.from_request(request)
        )
        response = FileResponse(
            image.file.open("rb"),
            content_type=_CONTENT_TYPES.get(image.format, "application/octet-stream"),
            as_attachment=True,
            filename=f"image-{image.id}{image.file.name[-4:]}",
        )
        response["Cache-Control"] = "private, no-store"
        response["X-Content-Type-Options"] = "nosniff"
        response["Content-Security-Policy"] = "default-src 'none'; sandbox"
        return response
