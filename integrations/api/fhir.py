"""GET /api/v1/studies/{id}/fhir/: the study as a FHIR R4 Bundle, for an EHR or a referring system."""

from __future__ import annotations

from typing import Any

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from audit.services.events import AuditContext, audit_record
from diagnosis import selectors
from integrations.services.fhir import study_fhir_bundle
from portal.api import permissions


class FhirJSONRenderer(JSONRenderer):
    """FHIR's own media type; clients asking for application/json get the same body."""

    media_type = "application/fhir+json"


class StudyFhirView(APIView):
    """A study as a FHIR R4 Bundle (collection). Same roles and scoping as the study; audited `study.fhir`."""

    permission_classes = [permissions.AnyRole]
    renderer_classes = [FhirJSONRenderer, JSONRenderer]

    def handle_exception(self, exc: Exception) -> Response:
        """Errors keep the API's JSON error body and media type: only a Bundle is served as FHIR."""
        self.request.accepted_renderer = JSONRenderer()
        self.request.accepted_media_type = JSONRenderer.media_type
        return super().handle_exception(exc)

    @extend_schema(responses={200: OpenApiTypes.OBJECT})
    def get(self, request: Request, pk: Any) -> Response:
        study = selectors.study_get(user=request.user, study_id=pk)
        bundle = study_fhir_bundle(study=study, base_url=request.build_absolute_uri("/fhir/"))
        # A PHI read like study.view: one event naming the study and what the bundle said.
        audit_record(
            actor=request.user,
            action="study.fhir",
            object_type="study",
            object_id=study.id,
            after={"report_status": bundle["entry"][0]["resource"]["status"]},
            context=AuditContext.from_request(request),
        )
        return Response(bundle)
