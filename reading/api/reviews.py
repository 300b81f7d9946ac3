"""Reviews on the API: sign a read, or amend it (a new version)."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from audit.services.events import ctx
from diagnosis.selectors import study_get
from portal.api import permissions
from reading.api.serializers import ReviewInputSerializer, ReviewSerializer
from reading.services import reviews


class StudyReviewView(APIView):
    """Sign a review (agree or override with a reason); a second review is an amendment (new version)."""

    permission_classes = [permissions.Radiologist]

    @extend_schema(request=ReviewInputSerializer, responses={201: ReviewSerializer})
    def post(self, request: Request, pk: Any) -> Response:
        form = ReviewInputSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        review = reviews.review_submit(
            user=request.user,
            study=study_get(user=request.user, study_id=pk),
            context=ctx(request),
            **form.validated_data,
        )
        return Response(ReviewSerializer(review).data, status=status.HTTP_201_CREATED)
