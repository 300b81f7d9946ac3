"""DICOM network figures: instances received per second over one association, against DCMTK's storescp.

    .venv/bin/python bench/dicom.py [--instances 20] [--rounds 3]

1. Instances: full-resolution chest X-rays from ../shared/data/originals (skipped, saying so, when absent)
   as DX for presentation, 16-bit uncompressed (12 bits stored), one study each, written to a temporary
   folder once. storescu reads the same files for both receivers.
2. Airspace: a fresh bench database (bench/_stack.py), migrations, one inbound node, `manage.py dicom_listen`
   on a free loopback port. Each instance is routed, held in PostgreSQL and committed before Success is
   answered (no worker runs: the figure is the receiver's own).
3. storescp (DCMTK's receiver, writing each instance to disk only) on another free port.
4. Per round, one `storescu` association per receiver sends every file; rate = instances / wall time of
   storescu (process start to exit, the same overhead for both). Rounds alternate the receivers; the
   median round is reported, with the ratio Airspace / storescp (goal >= 0.5). Each round sends new
   instances (fresh UIDs): a resend would only be acknowledged as a duplicate.
"""

from __future__ import annotations

import argparse
import io
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from _stack import ROOT, Stack, free_port, table  # noqa: E402

ORIGINALS = ROOT.parent / "shared" / "data" / "originals"
CALLING_AE = "BENCHSCU"


def full_resolution_instances(folder: Path, count: int) -> list[Path]:
    """`count` DX files built from the largest originals (each its own study); [] when there are none."""
    import numpy as np
    import pydicom
    from PIL import Image

    sys.path.insert(0, str(ROOT))
    from tests.fixtures.dicoms import make_dicom

    sources = sorted(ORIGINALS.glob("*/*/*.jp*g"), key=lambda p: p.stat().st_size, reverse=True)[:count]
    paths = []
    for index, source in enumerate(sources):
        with Image.open(source) as image:
            gray = np.asarray(image.convert("L"), dtype=np.float64)
        pixels = np.round(gray / 255.0 * 4095).astype(np.uint16)
        ds = pydicom.dcmread(io.BytesIO(make_dicom(pixels)))
        ds.BodyPartExamined, ds.PatientID = "CHEST", f"BENCH-{index:04d}"
        path = folder / f"{index:04d}.dcm"
        ds.save_as(path, enforce_file_format=True)
        paths.append(path)
    return paths


def new_instances(paths: list[Path]) -> None:
    """Give every file new SOP Instance, Series and Study UIDs (untimed)."""
    import pydicom
    from pydicom.uid import generate_uid

    for path in paths:
        ds = pydicom.dcmread(path)
        ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
        ds.SeriesInstanceUID, ds.StudyInstanceUID = generate_uid(), generate_uid()
        ds.save_as(path, enforce_file_format=True)


def send(port: int, called: str, files: list[Path]) -> float:
    """Seconds for one storescu association to store every file; raises if any store did not succeed."""
    started = time.perf_counter()
    result = subprocess.run(
        ["storescu", "-v", "-aet", CALLING_AE, "-aec", called, "127.0.0.1", str(port), *map(str, files)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    elapsed = time.perf_counter() - started
    stored = result.stderr.count("Received Store Response (Success)")
    if result.returncode != 0 or stored != len(files):
        raise RuntimeError(f"{called}: {stored}/{len(files)} stored\n{result.stderr[-2000:]}")
    return elapsed


def wait_listening(port: int, proc: subprocess.Popen[bytes], timeout: float = 60) -> None:
    """Until something accepts TCP connections on the port."""
    import socket

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"receiver exited with {proc.returncode}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"nothing listens on {port}")


def airspace_receiver(stack: Stack) -> int:
    """Fresh database, one inbound node, `dicom_listen`; its port."""
    stack._fresh_state()
    stack._manage("migrate", "--noinput", "-v0")
    stack._manage("dicom_node", "add", "bench-modality", "--ae-title", CALLING_AE, "--host", "127.0.0.1",
                  "--port", "104", "--inbound")  # fmt: skip
    port = free_port()
    command = [sys.executable, "manage.py", "dicom_listen", "--bind", "127.0.0.1", "--port", str(port)]
    wait_listening(port, stack.spawn("dicom", command))
    return port


def storescp_receiver(stack: Stack, folder: Path) -> int:
    """DCMTK storescp writing every instance to `folder`; its port."""
    port = free_port()
    proc = stack.spawn("storescp", ["storescp", "-aet", "STORESCP", "-od", str(folder), str(port)])
    wait_listening(port, proc)
    return port


def received_rate(instances: int, rounds: int) -> None:
    """Section 1: instances/s over one association, Airspace against storescp."""
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        files = full_resolution_instances(folder, instances)
        if not files:
            print(f"SKIPPED received rate: no full-resolution originals under {ORIGINALS}")
            return
        megabytes = sum(path.stat().st_size for path in files) / 2**20
        (folder / "storescp").mkdir()
        stack = Stack(workers=0)
        try:
            ports = {"Airspace": (airspace_receiver(stack), "AIRSPACE"),
                     "storescp": (storescp_receiver(stack, folder / "storescp"), "STORESCP")}  # fmt: skip
            times: dict[str, list[float]] = {name: [] for name in ports}
            for _ in range(rounds):
                new_instances(files)  # a resend would be acknowledged as a duplicate: fresh UIDs each round
                for name, (port, called) in ports.items():
                    times[name].append(send(port, called, files))
            count = stack.query("SELECT count(*) FROM pacs_receivedinstance WHERE status = 'accepted'")[0][0]
        finally:
            stack.stop()
    rates = {name: len(files) / statistics.median(seconds) for name, seconds in times.items()}
    print(f"\n{len(files)} full-resolution DX instances ({megabytes:.0f} MB), one association, "
          f"{rounds} rounds (median); Airspace held {count} accepted instances")  # fmt: skip
    rows = [
        (name, f"{rate:.2f} instances/s ({rate * megabytes / len(files):.1f} MB/s)")
        for name, rate in rates.items()
    ]
    print(table(rows, "receiver"))
    print(f"Airspace / storescp: {rates['Airspace'] / rates['storescp']:.2f} (goal >= 0.5)")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--instances", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    received_rate(args.instances, args.rounds)


if __name__ == "__main__":
    main()
