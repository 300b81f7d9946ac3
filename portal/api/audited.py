"""List endpoints that return PHI: each page returned is one audit event naming its records."""

from __future__ import annotations

from typing import Any

from rest_framework.request import Request
from rest_framework.response import Response

from audit.services.events import audit_read, ctx


class AuditedListMixin:
    """Mix into a ListAPIView and set `audit_action` and `audit_object_type` (#17 finding 2)."""

    audit_action = ""
    audit_object_type = ""

    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        """The usual page, then one `audit_read` naming the ids it returned."""
        response = super().list(request, *args, **kwargs)  # type: ignore[misc]
        audit_read(
            actor=request.user,
            action=self.audit_action,
            object_type=self.audit_object_type,
            ids=[row["id"] for row in response.data["results"]],
            context=ctx(request),
            query=request.query_params.dict(),
        )
        return response
