"""Query-string parsing for list filters; bad values are answered with a 400 naming the parameter."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Mapping
from typing import Any

from diagnosis.models import Label, Study
from diagnosis.selectors import WORKLIST_ORDERINGS, AuditFilters, StudyFilters, WorklistFilters
from diagnosis.services.errors import DomainError


def _choice(params: Mapping[str, Any], name: str, allowed: list[str]) -> str:
    value = params.get(name, "")
    if value and value not in allowed:
        raise DomainError(
            f"{name} must be one of: {', '.join(allowed)}.",
            code="invalid_filter",
            fields={name: [f"Must be one of: {', '.join(allowed)}."]},
        )
    return value


def _bool(params: Mapping[str, Any], name: str) -> bool | None:
    value = str(params.get(name, "")).lower()
    if value in ("", "any"):
        return None
    if value in ("1", "true", "yes"):
        return True
    if value in ("0", "false", "no"):
        return False
    raise DomainError(
        f"{name} must be true or false.", code="invalid_filter", fields={name: ["true or false"]}
    )


def date_param(params: Mapping[str, Any], name: str) -> dt.date | None:
    """An optional ISO date query parameter; a malformed one is a 400 naming it."""
    value = str(params.get(name, "")).strip()
    try:
        return dt.date.fromisoformat(value) if value else None
    except ValueError as exc:
        raise DomainError(
            f"{name} must be an ISO date (YYYY-MM-DD).", code="invalid_filter", fields={name: ["YYYY-MM-DD"]}
        ) from exc


def _int(params: Mapping[str, Any], name: str) -> int | None:
    value = params.get(name, "")
    if not value:
        return None
    if not (str(value).isascii() and str(value).isdigit()) or int(value) > 10**6:  # "²".isdigit() is True
        raise DomainError(
            f"{name} must be a whole number of minutes.",
            code="invalid_filter",
            fields={name: ["a whole number"]},
        )
    return int(value)


def prediction_filter(params: Mapping[str, Any]) -> str | None:
    """The ?prediction= id of a heatmap request (a UUID), or None for the current prediction."""
    value = str(params.get("prediction", "")).strip()
    if not value:
        return None
    try:
        return str(uuid.UUID(value))
    except ValueError as exc:
        raise DomainError(
            "prediction must be a prediction id (UUID).",
            code="invalid_filter",
            fields={"prediction": ["a UUID"]},
        ) from exc


def study_filters(params: Mapping[str, Any]) -> StudyFilters:
    """Filters for the study list."""
    return StudyFilters(
        status=_choice(params, "status", Study.Status.values),
        priority=_choice(params, "priority", Study.Priority.values),
        patient_mrn=str(params.get("patient_mrn", ""))[:64],
        ai_label=_choice(params, "ai_label", Label.values),
        reviewed=_bool(params, "reviewed"),
        date_from=date_param(params, "date_from"),
        date_to=date_param(params, "date_to"),
    )


def worklist_filters(params: Mapping[str, Any]) -> WorklistFilters:
    """Filters for the worklist."""
    return WorklistFilters(
        priority=_choice(params, "priority", Study.Priority.values),
        ai_label=_choice(params, "ai_label", Label.values),
        indeterminate=_bool(params, "indeterminate"),
        escalated=_bool(params, "escalated"),
        min_age_minutes=_int(params, "min_age_minutes"),
        max_age_minutes=_int(params, "max_age_minutes"),
        claim=_choice(params, "claim", ["mine", "free", "taken"]),
        ordering=_choice(params, "ordering", list(WORKLIST_ORDERINGS)) or "priority",
    )


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
