"""CPU of one Celery publish (the web's per upload, the worker's per positive result), the naive way and ours,
side by side in one process, interleaved:

- naive: Celery configured from `django.conf:settings` and kombu's stock Redis transport (a new redis-py
  client, with its ~170 response callbacks copied, for every command);
- ours: portal.celery.app as the portal runs it (DjangoCelerySettings, portal.broker.Transport).

Each publishes `--messages` prediction-run messages per round into its own Redis queue, which is deleted
afterwards; prints CPU ms per publish (median of the rounds), publish latency percentiles and publishes/s.

    REDIS_URL=redis://127.0.0.1:6379/6 .venv/bin/python bench/publish.py [--messages 2000] [--rounds 5]
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from _stack import cost_table, timed_calls  # noqa: E402

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings.dev")
if not os.environ.get("REDIS_URL"):
    sys.exit("Set REDIS_URL to a Redis database the bench may write to (its queues are deleted afterwards).")

import django  # noqa: E402

django.setup()

from celery import Celery  # noqa: E402

from portal.celery import app as ours  # noqa: E402

TASK = "diagnosis.tasks.prediction_run_task"
STUDY = "0b5b8e4e-0000-4000-8000-000000000000"


def naive_app() -> Celery:
    """The stock setup: options read through Django's settings proxy, kombu's own Redis transport."""
    app = Celery("naive")
    app.config_from_object("django.conf:settings", namespace="CELERY")
    app.conf.broker_transport = "redis"
    return app


def publish_round(app: Celery, queue: str, messages: int) -> tuple[float, list[float]]:
    """CPU ms per publish and each publish's wall time in ms."""
    return timed_calls(lambda: app.send_task(TASK, args=[STUDY], queue=queue, retry=False), messages)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    apps: dict[str, Any] = {"naive": naive_app(), "ours": ours}
    queues = {name: f"bench-publish-{name}-{os.getpid()}" for name in apps}
    cpu: dict[str, list[float]] = {name: [] for name in apps}
    latency: dict[str, list[float]] = {name: [] for name in apps}
    for name, app in apps.items():  # warm: connections, producer pools, compiled option lookups
        publish_round(app, queues[name], 100)
    try:
        for _ in range(args.rounds):
            for name, app in apps.items():  # interleaved, so machine noise hits both alike
                per_publish, waits = publish_round(app, queues[name], args.messages)
                cpu[name].append(per_publish)
                latency[name] += waits
    finally:
        with ours.connection_for_write() as conn:
            client = conn.default_channel.client
            for queue in queues.values():  # the queue (one list per priority) and kombu's bindings for it
                keys = [*client.scan_iter(f"{queue}*"), *client.scan_iter(f"_kombu.binding*.{queue}")]
                client.delete(*keys or [queue])
    print(
        f"{args.rounds} rounds x {args.messages} publishes each, interleaved; Redis {os.environ['REDIS_URL']}"
    )
    print(cost_table(cpu, latency, "publish", "publishes"))


if __name__ == "__main__":
    main()
