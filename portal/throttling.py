"""Throttling that reads its rates from the current settings (DRF binds them once, at import)."""

from __future__ import annotations

from typing import Any

from rest_framework.settings import api_settings
from rest_framework.throttling import ScopedRateThrottle, SimpleRateThrottle

from portal.addresses import client_ip


class SettingsScopedRateThrottle(ScopedRateThrottle):
    """ScopedRateThrottle whose rate follows REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"] as it is now."""

    def get_rate(self) -> str | None:
        return api_settings.DEFAULT_THROTTLE_RATES.get(self.scope)

    def get_ident(self, request: Any) -> str:
        """The client address through trusted proxies only (a client-written X-Forwarded-For is ignored)."""
        return client_ip(request)


class UploadRateThrottle(SimpleRateThrottle):
    """Uploads per user (scope "upload"), for the API and the upload page alike; no rate set: no limit."""

    scope = "upload"

    def __init__(self) -> None:  # the rate is read per request, from the settings as they are now
        pass

    def allow_request(self, request: Any, view: Any) -> bool:
        self.rate = api_settings.DEFAULT_THROTTLE_RATES.get(self.scope)
        if self.rate is None:
            return True
        self.num_requests, self.duration = self.parse_rate(self.rate)
        return super().allow_request(request, view)

    def get_cache_key(self, request: Any, view: Any) -> str:
        return self.cache_format % {"scope": self.scope, "ident": request.user.pk}
