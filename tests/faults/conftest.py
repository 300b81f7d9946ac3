"""Fault injection against real processes: workers we can SIGKILL, a broker we can point away, a DB proxy.

Every test here needs the real PostgreSQL and Redis (`services`), so it skips on the embedded default and
fails with REQUIRE_SERVICES=1 when they are missing. Nothing here stops or restarts the shared servers.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from tests.conftest import ROOT, start_worker, stop_worker, worker_env


@pytest.fixture
def fault_db(services: None, transactional_db: None) -> None:
    """Real services and committed transactions (worker subprocesses must see the rows)."""


@pytest.fixture
def workers(fault_db: None, settings: Any) -> Iterator[Callable[..., subprocess.Popen[bytes]]]:
    """Start workers with extra environment; every one started is stopped (and its group reaped) at the end."""
    started: list[subprocess.Popen[bytes]] = []

    def start(env: dict[str, str] | None = None, extra: list[str] | None = None, name: str = "fault"):
        proc = start_worker(settings, env=env, extra=extra, log_name=name)
        started.append(proc)
        return proc

    yield start
    for proc in started:
        stop_worker(proc)


@pytest.fixture
def beat(fault_db: None, settings: Any, tmp_path: Path) -> Iterator[Callable[..., subprocess.Popen[bytes]]]:
    """Start a separate `celery beat` (the sweeper's schedule) with extra environment; stopped at the end."""
    started: list[subprocess.Popen[bytes]] = []

    def start(env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
        log = (tmp_path / "beat.log").open("wb")
        cmd = [sys.executable, "-m", "celery", "-A", "portal", "beat", "-s", str(tmp_path / "beat-schedule")]
        proc = subprocess.Popen(cmd, cwd=ROOT, env={**worker_env(settings), **(env or {})}, stdout=log,
                                stderr=subprocess.STDOUT, start_new_session=True)  # fmt: skip
        proc.log_path = log.name  # type: ignore[attr-defined]
        started.append(proc)
        return proc

    yield start
    for proc in started:
        stop_worker(proc)


@pytest.fixture
def hold_file(tmp_path: Path) -> Path:
    """While this file exists a test worker holds its claim before predicting (AIRSPACE_TEST_HOLD_FILE)."""
    return tmp_path / "hold-claims"


def upload(
    api: Any, user: Any, data: bytes, name: str = "chest.jpg", mrn: str = "MRN-FAULT"
) -> dict[str, Any]:
    """Upload through the API (enqueue happens on commit) and return the 201 body."""
    api.force_authenticate(user)
    response = api.post(
        "/api/v1/studies/", {"image": SimpleUploadedFile(name, data), "patient_mrn": mrn}, format="multipart"
    )
    assert response.status_code == 201, response.content[:500]
    return response.json()


def kill_worker(proc: subprocess.Popen[bytes]) -> None:
    """SIGKILL the worker's whole process group (main process and pool children): a machine losing power."""
    with suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=10)


def pool_children(proc: subprocess.Popen[bytes]) -> list[int]:
    """PIDs of the worker's prefork pool children."""
    path = Path(f"/proc/{proc.pid}/task/{proc.pid}/children")
    return [int(pid) for pid in path.read_text().split()] if path.exists() else []


def worker_log(proc: subprocess.Popen[bytes]) -> str:
    """Everything the worker printed so far."""
    return Path(proc.log_path).read_text(errors="replace")  # type: ignore[attr-defined]


def wait_until(predicate: Callable[[], Any], timeout: float, what: str) -> Any:
    """Poll until predicate() is truthy; fail saying what did not happen."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if value := predicate():
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


@contextmanager
def broker_at(url: str) -> Iterator[None]:
    """Point this (web) process's Celery app at another broker URL, rebuilding its connection pools."""
    from portal.celery import app

    def rebuild(new_url: str) -> None:
        # Drop the cached pools (not close them: kombu keeps producer pools per connection, for reuse).
        app.conf.broker_url = new_url
        app._pool = None
        app.amqp._producer_pool = None

    original = app.conf.broker_url
    rebuild(url)
    try:
        yield
    finally:
        rebuild(original)


@contextmanager
def task_limits(*, soft: int | None, hard: int) -> Iterator[None]:
    """Publish prediction tasks with these time limits: Celery sends the publisher's limits in the message,
    so a test that gives its worker short limits must publish with the same ones (as web and worker share
    settings in production)."""
    from diagnosis.tasks import prediction_run_task as task

    original = (task.soft_time_limit, task.time_limit)

    def apply(limits: tuple[int | None, int | None]) -> None:
        task.soft_time_limit, task.time_limit = limits
        task._exec_options = None  # Celery caches the options it publishes with

    apply((soft, hard))
    try:
        yield
    finally:
        apply(original)
