"""POST /api/v1/studies/{id}/dicom-deliveries/{delivery_id}/retry/: an admin sends a failed delivery again."""

from __future__ import annotations

from typing import Any

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework.exceptions import PermissionDenied
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from audit.services.events import AuditContext
from diagnosis import selectors
from pacs.selectors import dicom_delivery_get, dicom_delivery_rows
from pacs.services.deliveries import dicom_delivery_retry
from portal.api import permissions
from portal.roles import Role, has_role


class DicomDeliveryRetryView(APIView):
    """Admin only (audited `dicom.retry`): a FAILED delivery goes back to pending and is sent again (409 otherwise)."""

    permission_classes = [permissions.AnyRole]

    @extend_schema(request=None, responses={202: OpenApiTypes.OBJECT})
    def post(self, request: Request, pk: Any, delivery_id: int) -> Response:
        # Scope first, so a study the caller may not see answers 404 whatever the role.
        study = selectors.study_get(user=request.user, study_id=pk)
        if not has_role(request.user, Role.ADMIN):
            raise PermissionDenied("Only an admin can retry a PACS delivery.")
        delivery = dicom_delivery_get(study=study, delivery_id=delivery_id)
        dicom_delivery_retry(
            delivery=delivery, actor=request.user, context=AuditContext.from_request(request)
        )
        return Response({"deliveries": dicom_delivery_rows([study]).get(study.id, [])}, status=202)
