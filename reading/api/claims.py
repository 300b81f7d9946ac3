"""Reading claims on the API: claim a study (200 for the winner, 409 for anyone else) or release it."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from audit.services.events import ctx
from diagnosis.api import serializers as s
from diagnosis.selectors import study_get
from portal.api import permissions
from reading.services import claims


class StudyClaimActionView(APIView):
    """A claim action on one visible study, answered with the study as the API shows it."""

    def study(self, request: Request, pk: Any) -> Any:
        """The study, or 404 when the caller may not see it."""
        return study_get(user=request.user, study_id=pk)

    def answer(self, request: Request, pk: Any) -> Response:
        """The study after the action (claim state included)."""
        return Response(s.StudySerializer(self.study(request, pk)).data)


class StudyClaimView(StudyClaimActionView):
    """Claim a study for reading: 200 for the winner, 409 naming the holder for anyone else."""

    permission_classes = [permissions.Radiologist]

    @extend_schema(request=None, responses=s.StudySerializer)
    def post(self, request: Request, pk: Any) -> Response:
        claims.reading_claim_take(user=request.user, study=self.study(request, pk), context=ctx(request))
        return self.answer(request, pk)


class StudyReleaseView(StudyClaimActionView):
    """Release your reading claim (an admin may force-release a stuck one)."""

    permission_classes = [permissions.Reader]

    @extend_schema(request=None, responses=s.StudySerializer)
    def post(self, request: Request, pk: Any) -> Response:
        claims.reading_claim_release(user=request.user, study=self.study(request, pk), context=ctx(request))
        return self.answer(request, pk)
