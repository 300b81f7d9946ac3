"""Shared fixtures: users of every role plus outsiders, real services, and a real Celery worker."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.fixtures.api import model_bundle, role_users, scene  # noqa: F401  (the API fixtures, for every app)

ROOT = Path(__file__).resolve().parent.parent
FIXTURE_XRAYS = ROOT / "tests" / "fixtures" / "xrays"
REQUIRE_SERVICES = os.environ.get("REQUIRE_SERVICES") == "1"


def missing_services() -> str | None:
    """Why the real PostgreSQL + Redis cannot be used, or None when both are configured and answering."""
    db_url, redis_url = os.environ.get("DATABASE_URL", ""), os.environ.get("REDIS_URL", "")
    if not db_url.startswith(("postgres://", "postgresql://")):
        return "DATABASE_URL does not point at PostgreSQL (embedded default in use)"
    if not redis_url:
        return "REDIS_URL is not set (embedded broker in use)"
    import redis

    try:
        redis.Redis.from_url(redis_url, socket_connect_timeout=2).ping()
    except redis.RedisError as exc:
        return f"Redis at {redis_url} does not answer: {exc}"
    return None


def require_services() -> None:
    """Skip (or, with REQUIRE_SERVICES=1, fail) when the real services are not available."""
    reason = missing_services()
    if reason is None:
        return
    if REQUIRE_SERVICES:
        pytest.fail(f"REQUIRE_SERVICES=1 but {reason}")
    pytest.skip(f"needs PostgreSQL and Redis: {reason}")


@pytest.fixture
def services() -> None:
    """Tests that need the real PostgreSQL and Redis."""
    require_services()


def xray_paths() -> list[Path]:
    """The committed downscaled chest X-rays (NORMAL and PNEUMONIA)."""
    return sorted(FIXTURE_XRAYS.glob("*/*.jp*g"))


@pytest.fixture
def xray_bytes() -> bytes:
    """One real (downscaled) chest X-ray as uploaded bytes."""
    return xray_paths()[0].read_bytes()


def _user(username: str, *roles: str, staff: bool = False) -> Any:
    from django.contrib.auth.models import Group, User

    user = User.objects.create_user(username=username, password="correct-horse-battery", is_staff=staff)
    for role in roles:
        user.groups.add(Group.objects.get_or_create(name=role)[0])
    return user


@pytest.fixture
def alice(db: None) -> Any:
    """A clinician who owns her uploads."""
    return _user("alice", "clinician")


@pytest.fixture
def bob(db: None) -> Any:
    """A second clinician, who must not see Alice's patients."""
    return _user("bob", "clinician")


@pytest.fixture
def carol(db: None) -> Any:
    """A radiologist."""
    return _user("carol", "radiologist")


@pytest.fixture
def dave(db: None) -> Any:
    """A second radiologist (claim races)."""
    return _user("dave", "radiologist")


@pytest.fixture
def admin_user(db: None) -> Any:
    """An admin (also staff)."""
    return _user("root-admin", "admin", staff=True)


@pytest.fixture
def nobody(db: None) -> Any:
    """Logged in, but with no role: sees nothing."""
    return _user("nobody")


@pytest.fixture
def api() -> Any:
    """A DRF test client."""
    from rest_framework.test import APIClient

    return APIClient()


@pytest.fixture
def predictor() -> Any:
    """The shipped model, loaded once per test session."""
    return _session_predictor()


_PREDICTOR: list[Any] = []


def _session_predictor() -> Any:
    if not _PREDICTOR:
        from mlcore.inference import load_predictor

        _PREDICTOR.append(load_predictor())
    return _PREDICTOR[0]


@pytest.fixture
def celery_worker(services: None, transactional_db: None, settings: Any) -> Iterator[subprocess.Popen[bytes]]:
    """A real Celery worker process on Redis and the test PostgreSQL database."""
    proc = start_worker(settings)
    try:
        yield proc
    finally:
        stop_worker(proc)


def worker_env(settings: Any) -> dict[str, str]:
    """The environment a worker subprocess needs to share the test database, broker and media."""
    from django.db import connection

    db = connection.settings_dict
    url = f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "portal.settings.test",
        "DATABASE_URL": url,
        "AIRSPACE_MEDIA_ROOT": str(settings.MEDIA_ROOT),
        "AIRSPACE_MODELS_DIR": str(getattr(settings, "AIRSPACE_MODELS_DIR", None) or ""),
        "PYTHONUNBUFFERED": "1",
    }


def start_worker(
    settings: Any,
    *,
    extra: list[str] | None = None,
    log_name: str = "worker",
    env: dict[str, str] | None = None,
) -> subprocess.Popen[bytes]:
    """Start `celery worker` (own process group, `env` added) and wait until it is ready to consume."""
    log_dir = Path(settings.MEDIA_ROOT).parent / "test-logs"
    log_dir.mkdir(parents=True, exist_ok=True)
    log = (log_dir / f"{log_name}-{time.time_ns()}.log").open("wb")
    cmd = [
        sys.executable,
        "-m",
        "celery",
        "-A",
        "portal",
        "worker",
        "-Q",
        "inference",
        "-c",
        "1",
        "--loglevel=INFO",
        "--without-gossip",
        "--without-mingle",
        *(extra or []),
    ]
    proc = subprocess.Popen(
        cmd,
        cwd=ROOT,
        env={**worker_env(settings), **(env or {})},
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    proc.log_path = log.name  # type: ignore[attr-defined]
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        text = Path(log.name).read_text(errors="replace")
        if "ready." in text:
            return proc
        if proc.poll() is not None:
            raise RuntimeError(f"worker exited early:\n{text[-3000:]}")
        time.sleep(0.5)
    stop_worker(proc)
    raise RuntimeError("worker did not become ready within 120 s")


def stop_worker(proc: subprocess.Popen[bytes]) -> None:
    """Stop a worker (warm shutdown, then kill)."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    # Pool children left behind by a SIGKILLed main process (the worker has its own process group).
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)


def wait_for_status(study_id: Any, statuses: tuple[str, ...], timeout: float = 90) -> Any:
    """Poll the database until the study reaches one of the statuses."""
    from diagnosis.models import Study

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        study = Study.objects.get(id=study_id)
        if study.status in statuses:
            return study
        time.sleep(0.2)
    raise AssertionError(f"study {study_id} stuck in {Study.objects.get(id=study_id).status}")


@pytest.fixture(autouse=True)
def _clean_media(settings: Any) -> None:
    """Each test starts with empty private media."""
    shutil.rmtree(settings.MEDIA_ROOT, ignore_errors=True)


@pytest.fixture(autouse=True)
def _clean_cache() -> None:
    """Throttle and lockout counters live in the cache: no test inherits another's."""
    from django.core.cache import cache

    cache.clear()


def pytest_configure(config: pytest.Config) -> None:
    """Let the test runner's flush (after each transactional test) past the audit tables' TRUNCATE guard.

    Production has no way around the BEFORE TRUNCATE trigger but disabling it as the owner; the test
    database user is a superuser, which may switch triggers off for the flush transaction only.
    """
    from django.db.backends.postgresql.operations import DatabaseOperations

    original = DatabaseOperations.execute_sql_flush

    def execute_sql_flush(self: DatabaseOperations, sql_list: list[str]) -> None:
        if sql_list:
            sql_list = ["SET LOCAL session_replication_role = replica", *sql_list]
        original(self, sql_list)

    DatabaseOperations.execute_sql_flush = execute_sql_flush  # type: ignore[method-assign]
