"""GET /api/v1/model/history/ (admin): which bundle and which operating profile served when, newest first."""

from __future__ import annotations

from dataclasses import asdict

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from modelops.selectors import lifecycle_history
from portal.api import permissions


class ModelHistoryView(APIView):
    """Admin: which bundle and which operating profile served when (promotions, rollbacks), newest first.

    Every served-bundle change and profile activation, read from the audit trail: when, who, from what to
    what, through which shadow run, and the reason recorded.
    """

    permission_classes = [permissions.Admin]

    @extend_schema(responses={200: OpenApiTypes.OBJECT})
    def get(self, request: Request) -> Response:
        return Response({"history": [asdict(change) for change in lifecycle_history()]})
