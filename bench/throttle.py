"""CPU of the per-user upload rate check on the shared cache (AIRSPACE_CACHE_URL, Redis, as docker-compose runs
it), the naive way and ours, side by side in one process, interleaved:

- naive: DRF's SimpleRateThrottle: the user's whole list of timestamps read from the cache, trimmed, appended
  and written back (two round trips, the list pickled both ways);
- ours: portal.throttling.UploadRateThrottle: one atomic script on a sorted set (one round trip).

The user's log holds `--entries` uploads inside the window before each round (300 is the default limit's
worst case). Prints CPU ms per check (median of the rounds), check latency percentiles and checks/s.

    REDIS_URL=redis://127.0.0.1:6379/6 .venv/bin/python bench/throttle.py [--checks 2000] [--entries 290]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from _stack import cost_table, timed_calls  # noqa: E402

if not os.environ.get("REDIS_URL"):
    sys.exit("Set REDIS_URL to a Redis database the bench may write to (its keys are deleted afterwards).")
os.environ["AIRSPACE_CACHE_URL"] = os.environ["REDIS_URL"]
os.environ["AIRSPACE_UPLOAD_THROTTLE"] = "1000000/min"  # never refuse: the cost of the check is measured
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings.dev")

import django  # noqa: E402

django.setup()

import redis  # noqa: E402
from django.core.cache import cache  # noqa: E402
from rest_framework.throttling import SimpleRateThrottle  # noqa: E402

from portal.throttling import UploadRateThrottle  # noqa: E402

USER_PK = 987_654


class Naive(SimpleRateThrottle):
    """DRF's own check, on the same cache."""

    scope = "upload"
    rate = "1000000/min"

    def get_cache_key(self, request: Any, view: Any) -> str:
        return self.cache_format % {"scope": self.scope, "ident": request.user.pk}


class _Request:
    user = type("User", (), {"pk": USER_PK, "is_authenticated": True})()


def fill(entries: int) -> None:
    """Both logs hold `entries` recent uploads."""
    now = time.time()
    stamps = [now - 0.05 * i for i in range(entries)]
    cache.set(Naive().get_cache_key(_Request(), None), stamps, 60)
    client = redis.Redis.from_url(os.environ["REDIS_URL"])
    key = f"airspace:{UploadRateThrottle().get_cache_key(_Request(), None)}"
    client.delete(key)
    client.zadd(key, {f"seed-{i}": stamp for i, stamp in enumerate(stamps)})


def check_round(make: Any, checks: int, entries: int) -> tuple[float, list[float]]:
    """CPU ms per check and each check's wall time in ms (the log refilled first)."""
    fill(entries)

    def check() -> None:
        if not make().allow_request(_Request(), None):
            raise SystemExit("a check was refused: raise the rate")

    return timed_calls(check, checks)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checks", type=int, default=300)
    parser.add_argument("--entries", type=int, default=290)
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    ways: dict[str, Any] = {"naive": Naive, "ours": UploadRateThrottle}
    cpu: dict[str, list[float]] = {name: [] for name in ways}
    latency: dict[str, list[float]] = {name: [] for name in ways}
    try:
        for make in ways.values():
            check_round(make, 50, args.entries)  # warm
        for _ in range(args.rounds):
            for name, make in ways.items():  # interleaved
                per_check, waits = check_round(make, args.checks, args.entries)
                cpu[name].append(per_check)
                latency[name] += waits
    finally:
        cache.delete(Naive().get_cache_key(_Request(), None))
        redis.Redis.from_url(os.environ["REDIS_URL"]).delete(
            f"airspace:{UploadRateThrottle().get_cache_key(_Request(), None)}"
        )
    print(
        f"{args.rounds} rounds x {args.checks} checks each, interleaved; each round starts with "
        f"{args.entries} uploads in the window (the naive list grows by one per check, as in a burst)"
    )
    print(cost_table(cpu, latency, "check", "checks"))


if __name__ == "__main__":
    main()
