"""A real Orthanc 1.10 (with its DICOMweb plugin) as the hospital's PACS, for the DICOM tests.

    from tests.pacs.orthanc import orthanc  # noqa: F401  (the fixture)
    def test_x(orthanc): orthanc.upload(data); orthanc.add_modality("AIRSPACE", "AIRSPACE", "127.0.0.1", port)

Each test gets its own Orthanc on free loopback ports with a temporary storage folder and a generated JSON
configuration; nothing is shared between tests or with other people's test runs. Skips (or fails with
REQUIRE_SERVICES=1) when Orthanc is not installed.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

ORTHANC = os.environ.get("AIRSPACE_ORTHANC", "/usr/sbin/Orthanc")
DICOMWEB_PLUGIN = os.environ.get(
    "AIRSPACE_ORTHANC_DICOMWEB", "/usr/share/orthanc/plugins/libOrthancDicomWeb.so"
)
ORTHANC_AET = "ORTHANC"


def free_port() -> int:
    """A loopback port nobody listens on right now (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def require_binary(path: str, what: str) -> None:
    """Skip (or, with REQUIRE_SERVICES=1, fail) when a real part is not installed."""
    if shutil.which(path) or Path(path).exists():
        return
    message = f"{what} is not installed ({path}); `.ci/run` installs it"
    if os.environ.get("REQUIRE_SERVICES") == "1":
        pytest.fail(message)
    pytest.skip(message)


@dataclass
class Orthanc:
    """A running Orthanc: its REST API at `url`, its DICOM port, and helpers the tests use."""

    url: str
    dicom_port: int
    aet: str
    process: subprocess.Popen[bytes]
    log: Path

    def request(self, method: str, path: str, body: bytes | None = None, content_type: str = "") -> Any:
        """One REST call; JSON answers are decoded, others returned as bytes."""
        request = urllib.request.Request(self.url + path, data=body, method=method)
        if content_type:
            request.add_header("Content-Type", content_type)
        with urllib.request.urlopen(request, timeout=60) as response:
            payload = response.read()
            if response.headers.get_content_type() == "application/json":
                return json.loads(payload or b"null")
            return payload

    def get(self, path: str) -> Any:
        return self.request("GET", path)

    def upload(self, data: bytes) -> dict[str, Any]:
        """Store one DICOM instance in Orthanc (as if a modality had sent it)."""
        return self.request("POST", "/instances", data, "application/dicom")

    def add_modality(self, name: str, aet: str, host: str, port: int) -> None:
        """Register a DICOM peer (e.g. Airspace) Orthanc may send to and accept from."""
        body = json.dumps({"AET": aet, "Host": host, "Port": port}).encode()
        self.request("PUT", f"/modalities/{name}", body, "application/json")

    def store_to(self, modality: str, resources: list[str]) -> dict[str, Any]:
        """C-STORE the given Orthanc resources (study, series or instance ids) to a registered modality."""
        body = json.dumps({"Resources": resources, "Synchronous": True}).encode()
        return self.request("POST", f"/modalities/{modality}/store", body, "application/json")

    def instances(self) -> list[dict[str, Any]]:
        """Every stored instance with its main DICOM tags (SOPClassUID, StudyInstanceUID, ...)."""
        return [self.get(f"/instances/{i}/simplified-tags") for i in self.get("/instances")]

    def wait_for_instances(self, count: int, timeout: float = 60) -> list[dict[str, Any]]:
        """Poll until at least `count` instances are stored; the instances (possibly fewer on timeout)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if len(self.get("/instances")) >= count:
                break
            time.sleep(0.2)
        return self.instances()


def orthanc_config(folder: Path, http_port: int, dicom_port: int) -> dict[str, Any]:
    """The generated configuration: loopback only, no authentication, the DICOMweb plugin on."""
    return {
        "Name": "airspace-test-pacs",
        "StorageDirectory": str(folder / "storage"),
        "IndexDirectory": str(folder / "storage"),
        "HttpPort": http_port,
        "DicomPort": dicom_port,
        "DicomAet": ORTHANC_AET,
        "RemoteAccessAllowed": False,
        "AuthenticationEnabled": False,
        "HttpServerEnabled": True,
        "DicomServerEnabled": True,
        # Accept stores from any AE (Airspace's outbound C-STORE is tested on what arrives, not on ACLs).
        "DicomAlwaysAllowStore": True,
        "DicomAlwaysAllowEcho": True,
        "DicomCheckCalledAet": False,
        "DicomCheckModalityHost": False,
        "UnknownSopClassAccepted": True,
        "DicomModalities": {},
        "DicomScuTimeout": 30,
        "StableAge": 1,
        "HttpTimeout": 60,
        "Plugins": [DICOMWEB_PLUGIN],
        "DicomWeb": {"Enable": True, "Root": "/dicom-web/", "EnableWado": True, "StudiesMetadata": "Full"},
    }


def orthanc_start(folder: Path) -> Orthanc:
    """Start Orthanc in `folder` and wait until its REST API answers."""
    require_binary(ORTHANC, "Orthanc")
    folder.mkdir(parents=True, exist_ok=True)
    http_port, dicom_port = free_port(), free_port()
    config = folder / "orthanc.json"
    config.write_text(json.dumps(orthanc_config(folder, http_port, dicom_port), indent=2))
    server = Orthanc(f"http://127.0.0.1:{http_port}", dicom_port, ORTHANC_AET, None, folder / "orthanc.log")  # type: ignore[arg-type]
    _run(server)
    return server


def orthanc_restart(server: Orthanc) -> None:
    """Start a stopped Orthanc again on the same ports, configuration and storage (a PACS back from downtime)."""
    _run(server)


def _run(server: Orthanc) -> None:
    """Launch the process of `server` (its log appended) and wait until its REST API answers."""
    config = server.log.parent / "orthanc.json"
    process = subprocess.Popen(
        [ORTHANC, "--no-jobs", str(config)], stdout=server.log.open("ab"), stderr=subprocess.STDOUT
    )
    server.process = process
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"Orthanc exited at start: {server.log.read_text()[-2000:]}")
        try:
            server.get("/system")
            return
        except (urllib.error.URLError, ConnectionError):
            time.sleep(0.1)
    orthanc_stop(server)
    raise RuntimeError(f"Orthanc did not answer within 30 s: {server.log.read_text()[-2000:]}")


def process_stop(process: subprocess.Popen[bytes]) -> None:
    """Stop one subprocess a fixture started (terminate, then kill), by its handle only."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def orthanc_stop(server: Orthanc) -> None:
    """Stop this Orthanc (and only it)."""
    process_stop(server.process)


@pytest.fixture
def orthanc(tmp_path: Path) -> Iterator[Orthanc]:
    """A fresh Orthanc for one test, stopped afterwards."""
    server = orthanc_start(tmp_path / "orthanc")
    try:
        yield server
    finally:
        orthanc_stop(server)
