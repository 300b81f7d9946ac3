"""Throttling that reads its rates from the current settings (DRF binds them once, at import)."""

from __future__ import annotations

import logging
import uuid
from functools import cache
from typing import Any

import redis
from django.conf import settings
from rest_framework.settings import api_settings
from rest_framework.throttling import ScopedRateThrottle, SimpleRateThrottle

from portal.addresses import client_ip

logger = logging.getLogger(__name__)

# One request against a user's sliding log, atomically, in one round trip: drop the entries older than the
# window, admit the request (and log it) while fewer than the limit remain, else answer the oldest entry's
# time (the Retry-After is counted from it). KEYS[1] the log; ARGV now, window seconds, limit, a unique member.
_ADMIT = """
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', tonumber(ARGV[1]) - tonumber(ARGV[2]))
if redis.call('ZCARD', KEYS[1]) < tonumber(ARGV[3]) then
  redis.call('ZADD', KEYS[1], ARGV[1], ARGV[4])
  redis.call('EXPIRE', KEYS[1], ARGV[2])
  return ''
end
return redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')[2]
"""


@cache
def _shared_log(url: str) -> Any:
    """The admission script on the shared cache's Redis (one client per process and URL)."""
    return redis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=3).register_script(_ADMIT)


def _shared_cache_url() -> str | None:
    """The Redis URL of the shared cache (AIRSPACE_CACHE_URL), or None for a per-process cache."""
    default = settings.CACHES.get("default", {})
    if not default.get("BACKEND", "").endswith("RedisCache"):
        return None
    location = default.get("LOCATION", "")
    servers = location.split(",") if isinstance(location, str) else list(location)
    return servers[0]  # Django's RedisCache writes to the first of several servers; so does the log


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
    _oldest: float | None = None  # set when the shared log refuses: the oldest request in the window

    def __init__(self) -> None:  # the rate is read per request, from the settings as they are now
        pass

    def allow_request(self, request: Any, view: Any) -> bool:
        self.rate = api_settings.DEFAULT_THROTTLE_RATES.get(self.scope)
        if self.rate is None:
            return True
        self.num_requests, self.duration = self.parse_rate(self.rate)
        url = _shared_cache_url()
        if url is None:  # a per-process cache (the embedded default, the tests): DRF's list in the cache
            return super().allow_request(request, view)
        # The shared cache is Redis: the log is a sorted set there, checked and appended in one atomic
        # script. DRF's way (read the whole list of timestamps, write it back) cost ~0.4 CPU ms per upload
        # with up to 300 entries pickled both ways, two round trips, and let concurrent requests of one
        # user (other processes) all pass between the read and the write.
        self.now = self.timer()
        key = f"airspace:{self.get_cache_key(request, view)}"
        try:
            oldest = _shared_log(url)(
                keys=[key], args=[self.now, self.duration, self.num_requests, uuid.uuid4().hex]
            )
        except redis.RedisError as exc:  # the cache is down: uploads go on, as they do with the broker down
            logger.warning("Upload throttle not applied, the shared cache is unavailable: %s", exc)
            return True
        if not oldest:
            return True
        self._oldest = float(oldest)
        return False

    def wait(self) -> float | None:
        """Seconds until the oldest request in the window leaves it (the shared log), else DRF's estimate."""
        if self._oldest is None:
            return super().wait()
        return max(0.0, self.duration - (self.now - self._oldest))

    def get_cache_key(self, request: Any, view: Any) -> str:
        return self.cache_format % {"scope": self.scope, "ident": request.user.pk}
