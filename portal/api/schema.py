"""OpenAPI honesty: the error body on every operation, and the list filters as documented parameters."""

from __future__ import annotations

from typing import Any

from drf_spectacular.renderers import OpenApiJsonRenderer2
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter
from drf_spectacular.views import SpectacularAPIView

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


def query_param(
    name: str, description: str, kind: Any = str, enum: list[str] | None = None
) -> OpenApiParameter:
    """A documented query-string parameter of a list endpoint."""
    return OpenApiParameter(name, kind, OpenApiParameter.QUERY, description=description, enum=enum)


DATE_RANGE = [
    query_param("date_from", "Created on or after this day (YYYY-MM-DD, UTC).", OpenApiTypes.DATE),
    query_param("date_to", "Created on or before this day (YYYY-MM-DD, UTC).", OpenApiTypes.DATE),
]


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
