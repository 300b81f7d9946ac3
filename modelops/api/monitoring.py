"""GET /api/v1/monitoring/ (admin): model agreement, accuracy against final reads, drift, rejections."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from modelops.services.monitoring import monitoring_report
from portal.api import permissions
from portal.errors import DomainError
from portal.query_params import date_param

MODEL_VERSION = re.compile(r"[A-Za-z0-9._+\-]{1,64}")


def monitoring_filters(params: Mapping[str, Any]) -> dict[str, Any]:
    """model_version, date_from and date_to from the query string; a bad value is a 400 naming it."""
    date_from, date_to = date_param(params, "date_from"), date_param(params, "date_to")
    if date_from and date_to and date_from > date_to:
        raise DomainError(
            "date_from must not be after date_to.",
            code="invalid_filter",
            fields={"date_from": ["must not be after date_to"]},
        )
    version = str(params.get("model_version", "")).strip()
    if version and not MODEL_VERSION.fullmatch(version):
        raise DomainError(
            "model_version is at most 64 letters, digits or . _ - +",
            code="invalid_filter",
            fields={"model_version": ["at most 64 letters, digits or . _ - +"]},
        )
    return {"model_version": version or None, "date_from": date_from, "date_to": date_to}


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
