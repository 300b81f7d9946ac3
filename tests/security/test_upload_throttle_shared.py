"""The upload rate limit on the shared cache (AIRSPACE_CACHE_URL, Redis: what docker-compose runs): one sliding
log per user in Redis, checked and appended atomically, shared by every web process."""

from __future__ import annotations

import os
import threading
from typing import Any

import pytest
import redis
from django.core.files.uploadedfile import SimpleUploadedFile

from portal.throttling import UploadRateThrottle
from tests.fixtures.api import token_client

pytestmark = pytest.mark.usefixtures("services")


@pytest.fixture
def shared_cache(settings: Any) -> Any:
    """The default cache on the test Redis, as AIRSPACE_CACHE_URL sets it; the logs are removed afterwards."""
    url = os.environ["REDIS_URL"]
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": url}}
    client = redis.Redis.from_url(url)
    yield client
    for key in client.scan_iter("airspace:throttle_upload_*"):
        client.delete(key)


def _rate(settings: Any, rate: str) -> None:
    rates = {**settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"], "upload": rate}
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": rates}


class _Request:
    def __init__(self, pk: int) -> None:
        self.user = type("User", (), {"pk": pk, "is_authenticated": True})()


def test_the_shared_log_admits_the_limit_then_refuses_until_the_oldest_leaves(
    settings: Any, shared_cache: Any
) -> None:
    _rate(settings, "3/min")
    clock = [1_000_000.0]

    def attempt() -> tuple[bool, float | None]:
        throttle = UploadRateThrottle()
        throttle.timer = lambda: clock[0]  # type: ignore[method-assign]
        allowed = throttle.allow_request(_Request(4242), None)
        return allowed, None if allowed else throttle.wait()

    results = []
    for step in (0, 10, 20, 30):  # seconds after the first upload
        clock[0] = 1_000_000.0 + step
        results.append(attempt())
    assert results == [(True, None), (True, None), (True, None), (False, 30.0)]  # the first leaves at 60 s
    assert shared_cache.zcard("airspace:throttle_upload_4242") == 3  # a refused request is not logged
    clock[0] = 1_000_060.5  # the first upload has left the window: one more is admitted
    assert attempt() == (True, None)
    assert attempt()[0] is False
    assert 0 < shared_cache.ttl("airspace:throttle_upload_4242") <= 60  # the log expires with its window


def test_concurrent_uploads_of_one_user_get_exactly_the_limit(settings: Any, shared_cache: Any) -> None:
    """DRF's list in the cache (read it, append, write it back) let concurrent requests all pass between the
    read and the write; the script admits exactly the limit."""
    _rate(settings, "10/min")
    barrier, admitted = threading.Barrier(30), []

    def upload() -> None:
        barrier.wait()
        admitted.append(UploadRateThrottle().allow_request(_Request(777), None))

    threads = [threading.Thread(target=upload) for _ in range(30)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert admitted.count(True) == 10 and admitted.count(False) == 20


def test_the_api_answers_429_with_retry_after_from_the_shared_log(
    settings: Any, shared_cache: Any, alice: Any, bob: Any, xray_bytes: bytes
) -> None:
    _rate(settings, "2/min")

    def post(user: Any, mrn: str) -> Any:
        image = SimpleUploadedFile("x.jpg", xray_bytes, content_type="image/jpeg")
        return token_client(user).post("/api/v1/studies/", {"image": image, "patient_mrn": mrn})

    responses = [post(alice, f"MRN-{i}") for i in range(3)]
    assert [r.status_code for r in responses] == [201, 201, 429]
    assert 55 <= int(responses[2].headers["Retry-After"]) <= 60
    assert post(bob, "MRN-B").status_code == 201  # per user, not global


def test_the_log_is_kept_on_the_first_of_several_cache_servers(settings: Any, shared_cache: Any) -> None:
    """Django's RedisCache accepts several servers, comma-separated, and writes to the first."""
    url = os.environ["REDIS_URL"]
    cache = {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": f"{url},redis://127.0.0.1:1/0",
    }
    settings.CACHES = {"default": cache}
    _rate(settings, "1/min")
    assert [UploadRateThrottle().allow_request(_Request(31), None) for _ in range(2)] == [True, False]
    assert shared_cache.zcard("airspace:throttle_upload_31") == 1


def test_uploads_go_on_when_the_shared_cache_is_down(settings: Any, alice: Any, xray_bytes: bytes) -> None:
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": "redis://127.0.0.1:1/0",
        }
    }
    _rate(settings, "2/min")
    image = SimpleUploadedFile("x.jpg", xray_bytes, content_type="image/jpeg")
    response = token_client(alice).post("/api/v1/studies/", {"image": image, "patient_mrn": "MRN-DOWN"})
    assert response.status_code == 201  # not a 500: the limit is not applied while the cache is down
