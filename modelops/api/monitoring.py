"""GET /api/v1/monitoring/ (admin): model agreement, accuracy against final reads, drift, rejections."""

from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from modelops.selectors import monitoring_filters
from modelops.services.monitoring import monitoring_report
from portal.api import permissions


class MonitoringView(APIView):
    """Admin: the AI against radiologists' final reads, drift and rejected inputs, per model and period.

    Agreement and Cohen's kappa, sensitivity/specificity with 95% Wilson CIs, overrides by reason,
    volume, probability drift against the bundle's validation distribution (PSI, KS), rejected-input rate.
    """

    permission_classes = [permissions.Admin]

    @extend_schema(
        parameters=[
            OpenApiParameter("model_version", str, description="one version (default: all in the period)"),
            OpenApiParameter("date_from", OpenApiTypes.DATE, description="predictions made on or after"),
            OpenApiParameter("date_to", OpenApiTypes.DATE, description="predictions made on or before"),
        ],
        responses={200: OpenApiTypes.OBJECT},
    )
    def get(self, request: Request) -> Response:
        return Response(monitoring_report(**monitoring_filters(request.query_params)))
