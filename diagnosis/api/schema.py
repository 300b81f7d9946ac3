"""OpenAPI honesty: the error body on every operation, and the list filters as documented parameters."""

from __future__ import annotations

from typing import Any

from drf_spectacular.renderers import OpenApiJsonRenderer2
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema_serializer
from drf_spectacular.views import SpectacularAPIView

from diagnosis.models import Label, Study

_ERROR_BODY = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["code", "message", "fields"],
            "properties": {
                "code": {"type": "string", "description": "Stable machine-readable code."},
                "message": {"type": "string", "description": "Human-readable explanation."},
                "fields": {
                    "type": "object",
                    "additionalProperties": {"type": "array", "items": {"type": "string"}},
                    "description": "Per-field messages for invalid input (empty otherwise).",
                },
            },
        }
    },
}
_DESCRIPTIONS = {
    "400": "Invalid input or filter",
    "401": "Not authenticated",
    "403": "Your role does not allow this",
    "404": "Not found, or outside your scope",
    "409": "Conflicts with the record's current state",
    "413": "Upload larger than the limit",
    "415": "Unsupported media type",
    "429": "Throttled or locked out",
    "503": "No usable model bundle",
}


def _statuses(path: str, method: str) -> list[str]:
    """Which error statuses an operation can answer (beyond its documented successes)."""
    statuses = ["400", "401", "403", "404"]
    if method == "post":
        statuses += ["409", "415"]
    if path.endswith("/studies/") and method == "post":
        statuses.append("413")
    if path.endswith("/auth/token/"):
        statuses = ["400", "415", "429"]
    if path.endswith("/model/"):
        statuses.append("503")
    return statuses


def add_error_responses(result: dict[str, Any], generator: Any, request: Any, public: bool) -> dict[str, Any]:
    """drf-spectacular postprocessing hook: declare the ErrorBody responses of every /api/ operation."""
    result.setdefault("components", {}).setdefault("schemas", {})["ErrorBody"] = _ERROR_BODY
    ref = {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}}
    for path, operations in result.get("paths", {}).items():
        if path.endswith(("/schema/", "/docs/")):
            continue
        for method, operation in operations.items():
            responses = operation.setdefault("responses", {})
            for code in _statuses(path, method):
                responses.setdefault(code, {"description": _DESCRIPTIONS[code], "content": ref})
    return result


def _param(name: str, description: str, kind: Any = str, enum: list[str] | None = None) -> OpenApiParameter:
    return OpenApiParameter(name, kind, OpenApiParameter.QUERY, description=description, enum=enum)


# The stored original is served as uploaded: JPEG, PNG or DICOM.
IMAGE_RESPONSES = {
    (200, content_type): OpenApiTypes.BINARY
    for content_type in ("image/jpeg", "image/png", "application/dicom", "application/octet-stream")
}
DATE_RANGE = [
    _param("date_from", "Created on or after this day (YYYY-MM-DD, UTC).", OpenApiTypes.DATE),
    _param("date_to", "Created on or before this day (YYYY-MM-DD, UTC).", OpenApiTypes.DATE),
]
STUDY_FILTERS = [
    _param("status", "Study status.", enum=Study.Status.values),
    _param("priority", "Clinical priority.", enum=Study.Priority.values),
    _param("patient_mrn", "Exact patient MRN."),
    _param("ai_label", "Label of any AI prediction on the study.", enum=Label.values),
    _param("reviewed", "Whether a radiologist has signed a review.", OpenApiTypes.BOOL),
    *DATE_RANGE,
]
PATIENT_FILTERS = [
    _param("mrn", "Exact MRN."),
    _param("q", "MRN or name contains (case-insensitive)."),
]
WORKLIST_FILTERS = [
    _param("priority", "Clinical priority.", enum=Study.Priority.values),
    _param("ai_label", "Label of the current AI prediction.", enum=Label.values),
    _param("indeterminate", "Whether the current AI prediction is indeterminate.", OpenApiTypes.BOOL),
    _param("escalated", "Whether the study has waited past the escalation limit.", OpenApiTypes.BOOL),
    _param("min_age_minutes", "Waiting at least this many minutes (0 to 1000000).", OpenApiTypes.INT),
    _param("max_age_minutes", "Waiting at most this many minutes (0 to 1000000).", OpenApiTypes.INT),
    _param(
        "claim",
        "Reading claim: mine, free (none or expired) or taken (someone else's).",
        enum=["mine", "free", "taken"],
    ),
    _param(
        "ordering",
        "priority (default: escalated, urgent, AI, waiting), waiting, newest or probability.",
        enum=["priority", "waiting", "newest", "probability"],
    ),
]
AUDIT_FILTERS = [
    _param("actor", "Exact username of the actor."),
    _param("action", "Action prefix, e.g. `study.` or `auth.login`."),
    _param("object_type", "Object type, e.g. study, image, prediction, user."),
    _param("object_id", "Exact object id."),
    *DATE_RANGE,
]


def _worklist_page() -> Any:
    """The worklist's page envelope plus its `counts` badges (for the whole, unfiltered worklist)."""
    from rest_framework import serializers

    from diagnosis.api.serializers import WorklistStudySerializer

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


class BrowsableSchemaView(SpectacularAPIView):
    """The schema, shown in a browser tab instead of downloaded.

    API clients keep the default (YAML as application/vnd.oai.openapi, or whatever they Accept). A browser
    navigating here asks for text/html, which has no renderer, so DRF fell back to the YAML type that
    browsers save as a file; such a request gets the JSON schema as application/json, which they display.
    """

    def perform_content_negotiation(self, request: Any, force: bool = False) -> Any:
        """JSON for a browser's page navigation, the usual negotiation otherwise."""
        accept = request.META.get("HTTP_ACCEPT", "")
        if "text/html" in accept and "format" not in request.query_params:
            return OpenApiJsonRenderer2(), OpenApiJsonRenderer2.media_type
        return super().perform_content_negotiation(request, force)
