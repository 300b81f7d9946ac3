"""What the diagnostic viewer's panes are told by the site's settings."""

from __future__ import annotations

from django import template
from django.conf import settings

register = template.Library()


@register.simple_tag
def viewer_pixel_budget() -> int:
    """Films above this many pixels load as an overview plus the region in view (AIRSPACE_VIEWER_PIXEL_BUDGET)."""
    return int(settings.AIRSPACE_VIEWER_PIXEL_BUDGET)
