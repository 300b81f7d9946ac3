"""System checks for site configuration that Airspace validates at start-up."""

from __future__ import annotations

from typing import Any

from django.core import checks
from django.core.exceptions import ImproperlyConfigured


@checks.register(checks.Tags.compatibility)
def check_review_reasons(app_configs: Any = None, **_: Any) -> list[checks.CheckMessage]:
    """AIRSPACE_REVIEW_REASONS may only reorder, relabel or hide the fixed reason codes."""
    from reading.services.reviews import review_reasons

    try:
        review_reasons()
    except ImproperlyConfigured as exc:
        return [checks.Error(str(exc), id="airspace.E001")]
    return []
