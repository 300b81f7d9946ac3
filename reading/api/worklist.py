"""The worklist on the API: completed, unreviewed studies in reading order, and its summary badges."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema, extend_schema_serializer, extend_schema_view
from rest_framework import generics, serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from diagnosis.api.serializers import StudySerializer
from diagnosis.models import Label, Study
from portal.api import permissions
from portal.api.audited import AuditedListMixin
from portal.api.schema import query_param
from reading import selectors
from reading.services import reviews


class WorklistStudySerializer(StudySerializer):
    escalated = serializers.BooleanField(read_only=True)
    claimed_by_me = serializers.SerializerMethodField()

    class Meta(StudySerializer.Meta):
        fields = [*StudySerializer.Meta.fields, "escalated", "claimed_by_me"]

    def get_claimed_by_me(self, obj: Study) -> bool:
        request = self.context.get("request")
        return request is not None and obj.claim_active and obj.reading_claimed_by_id == request.user.pk


WORKLIST_FILTERS = [
    query_param("priority", "Clinical priority.", enum=Study.Priority.values),
    query_param("ai_label", "Label of the current AI prediction.", enum=Label.values),
    query_param("indeterminate", "Whether the current AI prediction is indeterminate.", OpenApiTypes.BOOL),
    query_param("escalated", "Whether the study has waited past the escalation limit.", OpenApiTypes.BOOL),
    query_param("min_age_minutes", "Waiting at least this many minutes (0 to 1000000).", OpenApiTypes.INT),
    query_param("max_age_minutes", "Waiting at most this many minutes (0 to 1000000).", OpenApiTypes.INT),
    query_param(
        "claim",
        "Reading claim: mine, free (none or expired) or taken (someone else's).",
        enum=["mine", "free", "taken"],
    ),
    query_param(
        "ordering",
        "priority (default: escalated, urgent, AI, waiting), waiting, newest or probability.",
        enum=["priority", "waiting", "newest", "probability"],
    ),
]


def _worklist_page() -> Any:
    """The worklist's page envelope plus its `counts` badges (for the whole, unfiltered worklist)."""

    # many=False: this already is the page, drf-spectacular must not wrap it in another envelope.
    @extend_schema_serializer(many=False)
    class PaginatedWorklistPage(serializers.Serializer):
        count = serializers.IntegerField()
        next = serializers.URLField(allow_null=True)
        previous = serializers.URLField(allow_null=True)
        results = WorklistStudySerializer(many=True)
        counts = serializers.DictField(
            child=serializers.IntegerField(),
            help_text="total, urgent, escalated, indeterminate, my_claims, claimed_by_others",
        )

    return PaginatedWorklistPage


WORKLIST_PAGE = _worklist_page()


@extend_schema_view(get=extend_schema(parameters=WORKLIST_FILTERS, responses=WORKLIST_PAGE))
class WorklistView(AuditedListMixin, generics.ListAPIView):
    """Completed, unreviewed studies in reading order (escalated, urgent, AI priority, waiting time)."""

    permission_classes = [permissions.Reader]
    serializer_class = WorklistStudySerializer
    audit_action, audit_object_type = "worklist.view", "study"

    def get_queryset(self) -> Any:
        return selectors.worklist_for(
            user=self.request.user, filters=selectors.worklist_filters(self.request.query_params)
        )

    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        """The page envelope plus `counts`: badges for the whole (unfiltered) worklist."""
        response = super().list(request, *args, **kwargs)
        response.data["counts"] = selectors.worklist_counts(user=request.user)
        return response


class WorklistSummaryView(APIView):
    """Worklist badges (total, urgent, escalated, indeterminate, my claims) and the review policy."""

    permission_classes = [permissions.Reader]

    @extend_schema(responses={200: OpenApiTypes.OBJECT})
    def get(self, request: Request) -> Response:
        return Response(
            {
                "counts": selectors.worklist_counts(user=request.user),
                "review_reasons": [{"code": c, "label": t} for c, t in reviews.review_reasons()],
                "claim_minutes": settings.AIRSPACE_CLAIM_MINUTES,
                "escalate_after_minutes": settings.AIRSPACE_ESCALATE_AFTER_MINUTES,
            }
        )
