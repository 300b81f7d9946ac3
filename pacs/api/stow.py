"""DICOMweb STOW-RS: `POST /dicomweb/studies` and `/dicomweb/studies/{StudyInstanceUID}` (PS3.18 10.5)."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema
from rest_framework.parsers import BaseParser
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from audit.services.events import ctx
from diagnosis.models import Study
from diagnosis.services.admission import upload_admitted
from pacs.services.receive import Sender
from pacs.services.stow import DICOM_JSON, stow_limit, stow_parts, stow_response, stow_store
from portal.api import permissions
from portal.errors import PayloadTooLarge
from portal.throttling import UploadRateThrottle


class MultipartRelatedParser(BaseParser):
    """Declares multipart/related; the view reads the raw body itself (DRF never parses it)."""

    media_type = "multipart/related"


class DicomJsonRenderer(JSONRenderer):
    """PS3.18 DICOM JSON; error answers keep the API's JSON body."""

    media_type = DICOM_JSON


class StowView(APIView):
    """Store a study's instances (clinician or admin; token or session). Each instance is routed, held and
    filed exactly like one received over C-STORE, as the caller."""

    permission_classes = [permissions.Uploader]
    parser_classes = [MultipartRelatedParser]
    renderer_classes = [DicomJsonRenderer, JSONRenderer]

    def get_throttles(self) -> list[Any]:
        return [UploadRateThrottle()]

    # Not in the OpenAPI schema of the JSON API (/api/v1/): STOW-RS is the standard DICOMweb service of
    # PS3.18, a multipart/related body of DICOM files; docs/DICOM.md documents it, tests/pacs exercise it.
    @extend_schema(exclude=True)
    def post(self, request: Request, study_uid: str = "") -> Response:
        length = int(request.META.get("CONTENT_LENGTH") or 0)
        if length > stow_limit():
            raise PayloadTooLarge(
                f"The request is larger than {stow_limit() // 2**20} MB.", code="file_too_large"
            )
        # request.read(): the raw stream, not request.body (capped at DATA_UPLOAD_MAX_MEMORY_SIZE for forms).
        parts = stow_parts(
            content_type=request.content_type or "", body=request._request.read(stow_limit() + 1)
        )
        sender = Sender(user=request.user, source=Study.Source.STOW, context=ctx(request))
        outcomes = stow_store(parts=parts, sender=sender, study_uid=study_uid)
        if any(received.adds_work for received in outcomes):
            upload_admitted()  # under overload the answer waits, once per request; the instances are stored
        code, body = stow_response(outcomes)
        return Response(body, status=code, content_type=DICOM_JSON)
