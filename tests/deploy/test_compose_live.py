"""The compose services' own commands, run for real against this machine's PostgreSQL and Redis (slow)."""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.deploy.test_compose import ROOT, command_words, compose, interpolate, service_env

__all__ = ["compose"]  # the module-scoped fixture, shared with the static checks


@pytest.mark.slow
def test_web_command_serves_healthz_to_the_compose_health_check(
    compose: dict[str, Any], services: None, transactional_db: None, tmp_path: Path
) -> None:
    """Run the web service's gunicorn command with the compose environment, then its health check."""
    require_model()
    import socket
    import time

    from django.db import connection

    db = connection.settings_dict
    with socket.socket() as free:
        free.bind(("127.0.0.1", 0))
        port = free.getsockname()[1]
    env = {
        **{k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG")},
        **service_env(compose, "web"),
        "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}",
        "REDIS_URL": os.environ["REDIS_URL"],
        "AIRSPACE_VAR_DIR": str(tmp_path),
        "AIRSPACE_MEDIA_ROOT": str(tmp_path / "media"),
        "AIRSPACE_AUDIT_ANCHOR_FILE": str(tmp_path / "anchors" / "audit-anchors.jsonl"),
    }
    web = " ".join(command_words(compose, "web"))
    gunicorn = shlex.split(web[web.index("gunicorn") :].rstrip('"'))
    gunicorn[gunicorn.index("--bind") + 1] = f"127.0.0.1:{port}"
    gunicorn[gunicorn.index("--workers") + 1] = "1"
    bin_dir = Path(sys.executable).parent
    server = subprocess.Popen(
        [str(bin_dir / gunicorn[0]), *gunicorn[1:]],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        check = compose["services"]["web"]["healthcheck"]["test"][1:]
        probe = [sys.executable if check[0] == "python" else check[0], *check[1:]]
        probe[-1] = probe[-1].replace("127.0.0.1:8000", f"127.0.0.1:{port}")
        deadline = time.monotonic() + 60
        while True:
            result = subprocess.run(probe, env=env, capture_output=True, text=True, timeout=30)
            if result.returncode == 0 or time.monotonic() > deadline or server.poll() is not None:
                break
            time.sleep(1)
        assert result.returncode == 0, result.stderr[-2000:]
    finally:
        server.terminate()
        output = server.communicate(timeout=30)[0].decode(errors="replace")
    assert "Booting worker" in output


def require_model() -> None:
    """/healthz and the worker need the shipped bundle with its serving artifacts."""
    from tests.fixtures.bundles import shipped_bundle

    if shipped_bundle() is None:
        pytest.skip("needs the shipped model bundle (models/CURRENT naming a bundle with serving artifacts)")


def _live_env(compose: dict[str, Any], name: str, tmp_path: Path) -> dict[str, str]:
    """A service's compose environment, pointed at this machine's test database and Redis."""
    import socket

    from django.db import connection

    db = connection.settings_dict
    return {
        **{k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG")},
        **service_env(compose, name),
        "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}",
        "REDIS_URL": os.environ["REDIS_URL"],
        "AIRSPACE_VAR_DIR": str(tmp_path),
        "AIRSPACE_MEDIA_ROOT": str(tmp_path / "media"),
        "AIRSPACE_AUDIT_ANCHOR_FILE": str(tmp_path / "anchors" / "audit-anchors.jsonl"),
        "HOSTNAME": socket.gethostname(),
        "PYTHONPATH": str(ROOT),
        # The image has python and celery on PATH; here they live beside this interpreter.
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
    }


def _passes(check: list[str], env: dict[str, str], *, within: float, process: subprocess.Popen) -> bool:
    """Run a compose CMD / CMD-SHELL health check until it passes or time runs out."""
    import time

    command = check[1:]
    if check[0] == "CMD-SHELL":
        command = ["sh", "-c", interpolate(check[1], {})]
    deadline = time.monotonic() + within
    while time.monotonic() < deadline and process.poll() is None:
        if subprocess.run(command, env=env, capture_output=True, timeout=60).returncode == 0:
            return True
        time.sleep(2)
    return False


@pytest.mark.slow
@pytest.mark.parametrize("name", ["worker", "beat"])
def test_worker_and_beat_commands_pass_their_health_checks(
    compose: dict[str, Any], services: None, transactional_db: None, tmp_path: Path, name: str
) -> None:
    """The compose command (production settings, compose environment) starts and its health check passes."""
    require_model()
    env = _live_env(compose, name, tmp_path)
    command = command_words(compose, name)
    if name == "worker":
        command[command.index("--concurrency") + 1] = "1"
    else:
        command[command.index("--schedule") + 1] = str(tmp_path / "celerybeat-schedule")
    check = compose["services"][name]["healthcheck"]["test"]
    if name == "beat":
        check = [part.replace("/app/var/", f"{tmp_path}/") for part in check]
    celery = str(Path(sys.executable).parent / "celery")
    process = subprocess.Popen(
        [celery, *command[1:]], cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    try:
        healthy = _passes(check, env, within=120, process=process)
    finally:
        process.terminate()
        output = process.communicate(timeout=60)[0].decode(errors="replace")
    assert healthy, output[-3000:]
