"""`manage.py dicom_listen` as a subprocess on a free loopback port, and DCMTK's storescu/echoscu as the
modality. The listener shares the test database (tests using it need transactional_db)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ROOT, worker_env
from tests.pacs.orthanc import free_port, process_stop, require_binary


@dataclass
class Listener:
    """A running receiver: where it listens and its log."""

    port: int
    ae_title: str
    process: subprocess.Popen[bytes]
    log: Path

    def storescu(
        self, calling: str, *files: Path, extra: tuple[str, ...] = ()
    ) -> subprocess.CompletedProcess[str]:
        """Send files in one association as `calling` (DCMTK storescu, verbose), never raising."""
        require_binary("storescu", "DCMTK storescu")
        cmd = ["storescu", "-v", "-aet", calling, "-aec", self.ae_title, *extra, "127.0.0.1", str(self.port)]
        return subprocess.run([*cmd, *map(str, files)], capture_output=True, text=True, timeout=120)

    def echoscu(self, calling: str) -> subprocess.CompletedProcess[str]:
        """C-ECHO as `calling`."""
        require_binary("echoscu", "DCMTK echoscu")
        cmd = ["echoscu", "-v", "-aet", calling, "-aec", self.ae_title, "127.0.0.1", str(self.port)]
        return subprocess.run(cmd, capture_output=True, text=True, timeout=60)


def listener_start(settings: Any, log_dir: Path, env: dict[str, str] | None = None) -> Listener:
    """Start the receiver and wait until its port accepts connections."""
    port = free_port()
    log = log_dir / f"dicom-listen-{time.time_ns()}.log"
    process = subprocess.Popen(
        [sys.executable, "manage.py", "dicom_listen", "--bind", "127.0.0.1", "--port", str(port)],
        cwd=ROOT,
        env={**worker_env(settings), **(env or {})},
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
    )
    listener = Listener(port, "AIRSPACE", process, log)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"dicom_listen exited: {log.read_text()[-3000:]}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return listener
        except OSError:
            time.sleep(0.1)
    listener_stop(listener)
    raise RuntimeError("dicom_listen did not listen within 60 s")


def listener_stop(listener: Listener) -> None:
    """Stop this receiver (and only it)."""
    process_stop(listener.process)


@pytest.fixture
def dicom_listener(
    services: None, transactional_db: None, settings: Any, tmp_path: Path
) -> Iterator[Listener]:
    """The receiver on PostgreSQL and Redis, with a 1 s quiet window."""
    env = {"AIRSPACE_DICOM_STUDY_QUIET_SECONDS": os.environ.get("AIRSPACE_DICOM_STUDY_QUIET_SECONDS", "1")}
    listener = listener_start(settings, tmp_path, env)
    try:
        yield listener
    finally:
        listener_stop(listener)
