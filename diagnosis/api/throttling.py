"""Throttling that reads its rates from the current settings (DRF binds them once, at import)."""

from __future__ import annotations

from typing import Any

from rest_framework.settings import api_settings
from rest_framework.throttling import ScopedRateThrottle

from portal.addresses import client_ip


class SettingsScopedRateThrottle(ScopedRateThrottle):
    """ScopedRateThrottle whose rate follows REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"] as it is now."""

    def get_rate(self) -> str | None:
        return api_settings.DEFAULT_THROTTLE_RATES.get(self.scope)

    def get_ident(self, request: Any) -> str:
        """The client address through trusted proxies only (a client-written X-Forwarded-For is ignored)."""
        return client_ip(request)
