"""Query-string parsing for list filters; bad values are answered with a 400 naming the parameter."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from portal.errors import DomainError


def choice_param(params: Mapping[str, Any], name: str, allowed: list[str]) -> str:
    """One of the allowed values, or empty when absent."""
    value = params.get(name, "")
    if value and value not in allowed:
        raise DomainError(
            f"{name} must be one of: {', '.join(allowed)}.",
            code="invalid_filter",
            fields={name: [f"Must be one of: {', '.join(allowed)}."]},
        )
    return value


def bool_param(params: Mapping[str, Any], name: str) -> bool | None:
    """True, False, or None for absent / "any"."""
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


def int_param(params: Mapping[str, Any], name: str) -> int | None:
    """A whole number of minutes (at most a million), or None when absent."""
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
