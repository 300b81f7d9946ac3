"""Audit reads: the trail, filtered, newest first."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

from django.db.models import QuerySet

from audit.models import AuditEvent
from portal.query_params import date_param

# An audit event's fields in export order: the CSV header and the API's keys (which call the actor "actor").
AUDIT_FIELDS = (
    "id",
    "created_at",
    "actor_username",
    "action",
    "object_type",
    "object_id",
    "before",
    "after",
    "reason",
    "ip",
    "user_agent",
    "prev_hash",
    "hash",
    "seq",  # covered by the hash: an auditor recomputing the chain needs it
)


@dataclass(frozen=True)
class AuditFilters:
    actor: str = ""
    action: str = ""
    object_type: str = ""
    object_id: str = ""
    date_from: date | None = None
    date_to: date | None = None


def audit_list(*, filters: AuditFilters | None = None) -> QuerySet[AuditEvent]:
    """Audit events newest first (admin only; the caller checks the role)."""
    filters = filters or AuditFilters()
    queryset = AuditEvent.objects.all()
    if filters.actor:
        queryset = queryset.filter(actor_username=filters.actor)
    if filters.action:
        queryset = queryset.filter(action__startswith=filters.action)
    if filters.object_type:
        queryset = queryset.filter(object_type=filters.object_type)
    if filters.object_id:
        queryset = queryset.filter(object_id=filters.object_id)
    if filters.date_from:
        queryset = queryset.filter(created_at__date__gte=filters.date_from)
    if filters.date_to:
        queryset = queryset.filter(created_at__date__lte=filters.date_to)
    return queryset.order_by("-id")


def audit_filters(params: Mapping[str, Any]) -> AuditFilters:
    """Filters for the audit list."""
    return AuditFilters(
        actor=str(params.get("actor", ""))[:150],
        action=str(params.get("action", ""))[:64],
        object_type=str(params.get("object_type", ""))[:64],
        object_id=str(params.get("object_id", ""))[:64],
        date_from=date_param(params, "date_from"),
        date_to=date_param(params, "date_to"),
    )
