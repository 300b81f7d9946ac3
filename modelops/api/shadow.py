"""GET /api/v1/model/shadow/ (admin): the running (else latest) shadow run against the served model."""

from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from modelops.models import ShadowRun
from modelops.services.shadow_report import shadow_comparison
from portal.api import permissions


class ShadowView(APIView):
    """Admin: served model vs the shadow candidate on the studies read since the shadow began.

    AUC, sensitivity and specificity of each with 95% paired patient-bootstrap CIs and of the difference,
    exact McNemar on the reads where exactly one is right, the disagreeing studies, latency of each.
    `{"shadow": null}` when no candidate was ever registered.
    """

    permission_classes = [permissions.Admin]

    @extend_schema(responses={200: OpenApiTypes.OBJECT})
    def get(self, request: Request) -> Response:
        latest = ShadowRun.objects.first()
        return Response(shadow_comparison(latest) if latest else {"shadow": None})
