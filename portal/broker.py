"""The Redis broker transport, with one command client per channel.

kombu's Redis channel builds a new `redis.Redis` client for every command it sends outside the consumer's
event loop: every publish, and the worker's bookkeeping of each delivered and acknowledged message. A client
copies redis-py's table of ~170 response callbacks when it is built, which made up a quarter of the CPU of a
Celery publish (bench/publish.py). The client is only a front for the channel's connection pool, so one per
channel serves every command; a new pool (after a fork, or after the channel dropped its pools) gets a new
client. Selected by `CELERY_BROKER_TRANSPORT` (portal/settings/base.py) whenever REDIS_URL is set.
"""

from __future__ import annotations

from typing import Any

from kombu.transport import redis


class Channel(redis.Channel):
    """kombu's Redis channel, building its command client once per connection pool."""

    _command_client: Any = None

    def _create_client(self, asynchronous: bool = False) -> Any:
        if asynchronous:  # the event loop's own client (BRPOP, pub/sub) is built once by kombu already
            return super()._create_client(asynchronous=True)
        client = self._command_client
        if client is None or client.connection_pool is not self.pool:
            client = self._command_client = super()._create_client()
        return client


class Transport(redis.Transport):
    """kombu's Redis transport with the channel above."""

    Channel = Channel
