"""The Celery app's configuration source and the Redis transport with one command client per channel."""

from __future__ import annotations

import json
import os
from typing import Any

import pytest
import redis
from django.conf import settings

from portal.broker import Transport
from portal.celery import DjangoCelerySettings, app

TASK = "diagnosis.tasks.prediction_run_task"


def test_celery_reads_every_celery_setting_of_django_and_its_own_defaults_for_the_rest() -> None:
    copied = dict(DjangoCelerySettings())
    assert copied == {name: getattr(settings, name) for name in dir(settings) if name.startswith("CELERY_")}
    assert app.conf.worker_prefetch_multiplier == settings.CELERY_WORKER_PREFETCH_MULTIPLIER
    assert app.conf.task_default_queue == settings.CELERY_TASK_DEFAULT_QUEUE == "inference"
    assert app.conf.task_time_limit == settings.CELERY_TASK_TIME_LIMIT
    assert app.conf.beat_schedule == settings.CELERY_BEAT_SCHEDULE
    assert app.conf.task_serializer == "json"  # not set in Django: Celery's default


@pytest.fixture
def queue(services: None) -> Any:
    """A queue of its own in the test Redis, deleted afterwards (with kombu's bindings for it)."""
    name = f"test-broker-{os.getpid()}"
    yield name
    client = redis.Redis.from_url(os.environ["REDIS_URL"])
    keys = [*client.scan_iter(f"{name}*"), *client.scan_iter(f"_kombu.binding*.{name}")]
    if keys:
        client.delete(*keys)


def test_the_redis_broker_uses_the_transport_with_one_command_client(queue: str) -> None:
    assert settings.CELERY_BROKER_TRANSPORT == "portal.broker:Transport"
    with app.connection_for_write() as conn:
        assert isinstance(conn.transport, Transport)
        assert conn.transport.driver_type == "redis"  # Celery's Redis-only features still see Redis


def test_publishing_builds_no_redis_client_per_message(queue: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """kombu's stock channel built a redis-py client (copying ~170 response callbacks) for every publish."""
    app.send_task(TASK, args=["warm"], queue=queue, retry=False)  # the producer's connection and channel
    built = []
    real_init = redis.Redis.__init__

    def counting_init(self: redis.Redis, *args: Any, **kwargs: Any) -> None:
        built.append(self)
        real_init(self, *args, **kwargs)

    monkeypatch.setattr(redis.Redis, "__init__", counting_init)
    for study in range(5):
        app.send_task(TASK, args=[f"study-{study}"], queue=queue, retry=False)
    assert built == []
    # Every message arrived, intact (kombu keeps one list per priority step, each named after the queue).
    client = redis.Redis.from_url(os.environ["REDIS_URL"])
    lists = [key for key in client.scan_iter(f"{queue}*") if client.type(key) == b"list"]
    bodies = [json.loads(raw) for key in lists for raw in client.lrange(key, 0, -1)]
    assert sorted(body["headers"]["argsrepr"] for body in bodies) == [
        "['study-0']",
        "['study-1']",
        "['study-2']",
        "['study-3']",
        "['study-4']",
        "['warm']",
    ]
    assert {body["headers"]["task"] for body in bodies} == {TASK}


def test_a_new_connection_pool_gets_a_new_command_client(queue: str) -> None:
    with app.connection_for_write() as conn:
        channel = conn.default_channel
        first = channel._create_client()
        assert channel._create_client() is first
        assert first.connection_pool is channel.pool
        assert channel._create_client(asynchronous=True) is not first  # the event loop's client is its own
        channel._disconnect_pools()  # what kombu does after a fork or a lost connection
        renewed = channel._create_client()
        assert renewed is not first
        assert renewed.connection_pool is channel.pool
        assert renewed.ping()
