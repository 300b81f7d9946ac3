"""Per-study cost of asking which bundle is served (modelops.selectors.served_bundle_dir), the lookup a
worker makes before each prediction since promotion became data (#15).

Prints the CPU milliseconds per lookup in this process (Django + psycopg) and in its PostgreSQL backend
(read from /proc, so it holds while other jobs share the machine), with no promoted row (the deployment
default) and with one, beside the active-profile query every study already made.

    DATABASE_URL=postgres://.../DB DJANGO_SETTINGS_MODULE=portal.settings.test \
        .venv/bin/python bench/served_bundle_lookup.py [--calls 3000]

DB must be migrated (`manage.py migrate`); the script adds one ServedBundle row and removes it.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def backend_cpu_s(pid: int) -> float:
    """utime + stime of a process, in seconds (works for the local PostgreSQL backend)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def measure(name: str, call: Callable[[], object], calls: int, backend: int) -> None:
    for _ in range(100):  # warm the connection and Django's query machinery
        call()
    cpu0, db0, wall0 = time.process_time(), backend_cpu_s(backend), time.perf_counter()
    for _ in range(calls):
        call()
    cpu, db, wall = time.process_time() - cpu0, backend_cpu_s(backend) - db0, time.perf_counter() - wall0
    print(
        f"{name:<44} client {1000 * cpu / calls:.3f} CPU-ms  postgres {1000 * db / calls:.3f} CPU-ms  "
        f"wall {1000 * wall / calls:.3f} ms per lookup"
    )


def main() -> None:
    import django

    django.setup()
    from django.db import connection

    from mlcore.bundle import load_bundle
    from modelops.models import ServedBundle
    from modelops.selectors import served_bundle_dir
    from modelops.services.profiles import profile_active

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=3000)
    calls = parser.parse_args().calls
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        backend = cursor.fetchone()[0]
    bundle = load_bundle(verify=False, serving=False)
    measure("served bundle, none promoted (default)", served_bundle_dir, calls, backend)
    row = ServedBundle.objects.create(bundle=bundle.path.name, model_version=bundle.version, active=True)
    try:
        measure("served bundle, one promoted row", served_bundle_dir, calls, backend)
    finally:
        row.delete()
    measure(
        "reference: active operating profile query", lambda: profile_active(bundle=bundle), calls, backend
    )


if __name__ == "__main__":
    main()
