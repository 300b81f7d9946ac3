"""Issue #16 (make run): Ctrl-C stops the web server and the worker once each, and the supervisor exits."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from tests.conftest import ROOT

# A child that reports each SIGTERM it receives and exits on it (like a Celery warm shutdown). Each line is
# one write: print() writes the text and the newline separately, and unbuffered (PYTHONUNBUFFERED) the two
# children's lines could interleave on the shared pipe ("ready workerready web").
CHILD = """
import signal, sys, time
def say(text):
    sys.stdout.write(text + chr(10))
    sys.stdout.flush()
def stop(signum, frame):
    say("shutdown {name}")
    sys.exit(0)
signal.signal(signal.SIGTERM, stop)
say("ready {name}")
while True:
    time.sleep(0.05)
"""


def child(name: str) -> str:
    return f"{sys.executable} -c '{CHILD.format(name=name)}'"


def supervise(*commands: str, env_extra: dict[str, str] | None = None) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "portal.dev_supervisor", *commands],
        cwd=ROOT,
        env={**os.environ, **(env_extra or {})},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def wait_for_lines(proc: subprocess.Popen[str], wanted: int) -> list[str]:
    lines: list[str] = []
    while len(lines) < wanted:
        line = proc.stdout.readline()  # type: ignore[union-attr]
        assert line, f"supervisor ended early: {lines}"
        lines.append(line.strip())
    return lines


def test_ctrl_c_stops_each_child_exactly_once_and_exits():
    proc = supervise(child("web"), child("worker"))
    try:
        assert sorted(wait_for_lines(proc, 2)) == ["ready web", "ready worker"]
        proc.send_signal(signal.SIGINT)
        output, _ = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 0
    assert output.count("shutdown web") == 1 and output.count("shutdown worker") == 1
    assert output.count("Stopping 2 processes") == 1


def test_when_one_child_dies_the_other_is_stopped():
    proc = supervise(f"{sys.executable} -c 'import sys; sys.exit(3)'", child("web"))
    output, _ = proc.communicate(timeout=60)
    assert proc.returncode == 3 and output.count("shutdown web") <= 1


def test_a_child_ignoring_sigterm_is_killed_after_the_grace_period(tmp_path: Path):
    stubborn = f"{sys.executable} -c 'import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); print(\"ready\", flush=True); time.sleep(600)'"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-c",
            f"from portal.dev_supervisor import Supervisor; raise SystemExit(Supervisor([{stubborn!r}], grace=1).run())",
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout.readline().strip() == "ready"  # type: ignore[union-attr]
        proc.send_signal(signal.SIGINT)
        proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 0


def test_the_makefile_no_longer_kills_its_own_process_group():
    makefile = (ROOT / "Makefile").read_text()
    assert "trap 'kill 0'" not in makefile and "portal.dev_supervisor" in makefile
