"""Throttling that reads its rates from the current settings (DRF binds them once, at import)."""

from __future__ import annotations

from rest_framework.settings import api_settings
from rest_framework.throttling import ScopedRateThrottle


class SettingsScopedRateThrottle(ScopedRateThrottle):
    """ScopedRateThrottle whose rate follows REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"] as it is now."""

    def get_rate(self) -> str | None:
        return api_settings.DEFAULT_THROTTLE_RATES.get(self.scope)
