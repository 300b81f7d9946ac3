"""DICOM network figures: instances received per second over one association, against DCMTK's storescp;
and the time from the last instance of a study received to its AI SR stored in the PACS.

    .venv/bin/python bench/dicom.py [--instances 20] [--rounds 3] [--studies 20] [--burst 10] [--quiet 1]
        [--only received|results]

Section 1, received rate:

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

Section 2, results out: the real stack (bench/_stack.py: 2 Celery workers, beat, PostgreSQL, Redis) with
`dicom_listen` and a real Orthanc 1.10 (tests/pacs/orthanc.py) registered as the outbound PACS. Each study
(the committed paediatric chest DX with fresh UIDs) is sent by storescu; the clock starts at its instance's
`received_at` (committed before the listener answered) and stops when the bench, polling Orthanc's REST
API every 10 ms, first finds an SR in that study. The quiet window (AIRSPACE_DICOM_STUDY_QUIET_SECONDS) is
subtracted for "quiet window excluded"; the rest is release, model, prediction, SR build and C-STORE.
One at a time (after a warm-up study: model load), then `--burst` studies in one association.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from _stack import ROOT, Stack, free_port, percentile, table  # noqa: E402

if TYPE_CHECKING:
    from tests.pacs.orthanc import Orthanc

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


def sr_in_orthanc(orthanc: Orthanc, study_uid: str) -> bool:
    """Whether Orthanc holds an SR instance of this study (C-FIND-like lookup through its REST API)."""
    body = json.dumps(
        {"Level": "Series", "Query": {"StudyInstanceUID": study_uid, "Modality": "SR"}}
    ).encode()
    request = urllib.request.Request(orthanc.url + "/tools/find", body, {"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as response:
        return bool(json.loads(response.read()))


STAGES_SQL = """
SELECT (SELECT max(r.received_at) FROM pacs_receivedinstance r WHERE r.study_instance_uid = s.study_instance_uid),
       s.created_at, p.created_at, d.delivered_at
FROM diagnosis_study s
JOIN diagnosis_prediction p ON p.study_id = s.id
JOIN pacs_dicomdelivery d ON d.study_id = s.id AND d.kind = 'sr'
WHERE s.study_instance_uid = %s
"""


def stages(stack: Stack, study_uid: str) -> tuple[datetime, datetime, datetime, datetime]:
    """Last instance received, study filed, prediction recorded, SR delivered (the stack's clock)."""
    return stack.query(STAGES_SQL, (study_uid,))[0]  # type: ignore[return-value]


def new_study(folder: Path, n: int) -> tuple[Path, str]:
    """A paediatric chest DX (the committed fixture) with fresh UIDs written for storescu; its StudyInstanceUID."""
    import pydicom

    from tests.fixtures.pacs_dicoms import fixture, with_new_uids

    path = folder / f"study-{n}.dcm"
    path.write_bytes(with_new_uids(fixture("chest_dx_child.dcm")))
    return path, str(pydicom.dcmread(path, stop_before_pixels=True).StudyInstanceUID)


def wait_for_srs(orthanc: Orthanc, uids: list[str], timeout: float = 300) -> dict[str, float]:
    """When the bench first found each study's SR in Orthanc (polling every 10 ms)."""
    found: dict[str, float] = {}
    deadline = time.monotonic() + timeout
    while len(found) < len(uids):
        assert time.monotonic() < deadline, (
            f"no SR for {len(uids) - len(found)} studies: see the stack's logs"
        )
        for uid in uids:
            if uid not in found and sr_in_orthanc(orthanc, uid):
                found[uid] = time.time()
        time.sleep(0.01)
    return found


def measured(stack: Stack, uid: str, found: float) -> tuple[float, ...]:
    """Seconds from the study's last instance received to its SR found in Orthanc, then the stages:
    received -> filed (quiet window + release), filed -> prediction, prediction -> SR delivered."""
    received, filed, predicted, delivered = stages(stack, uid)
    while delivered is None:  # the worker records the delivery just after Orthanc answered
        time.sleep(0.01)
        received, filed, predicted, delivered = stages(stack, uid)
    return (
        found - received.timestamp(),
        (filed - received).total_seconds(),
        (predicted - filed).total_seconds(),
        (delivered - predicted).total_seconds(),
    )


def sequential(stack: Stack, orthanc: Orthanc, port: int, folder: Path, n: int) -> list[tuple[float, ...]]:
    """n studies one at a time, each waited for (after one warm-up study: model load)."""
    runs = []
    for i in range(n + 1):
        path, uid = new_study(folder, i)
        send(port, "AIRSPACE", [path])
        runs.append(measured(stack, uid, wait_for_srs(orthanc, [uid])[uid]))
    return runs[1:]


def refused(port: int, files: list[Path]) -> list[Path]:
    """One storescu association; the files whose store was not answered Success (a sender retries those)."""
    result = subprocess.run(["storescu", "-v", "-aet", CALLING_AE, "-aec", "AIRSPACE", "127.0.0.1", str(port),
                             *map(str, files)], capture_output=True, text=True, timeout=600)  # fmt: skip
    answers = [line for line in result.stderr.splitlines() if "Received Store Response" in line]
    ok = [i < len(answers) and "(Success)" in answers[i] for i in range(len(files))]
    return [path for path, stored in zip(files, ok, strict=True) if not stored]


def burst(
    stack: Stack, orthanc: Orthanc, port: int, folder: Path, n: int
) -> tuple[list[tuple[float, ...]], int]:
    """n studies in one association (a PACS forwarding a backlog), all waited for together; and how many
    stores were refused and sent again (as a modality retries 0xA700 Out of Resources)."""
    studies = [new_study(folder, 1000 + i) for i in range(n)]
    pending, resent = [path for path, _ in studies], 0
    for _ in range(3):
        pending = refused(port, pending)
        if not pending:
            break
        resent += len(pending)
    assert not pending, f"{len(pending)} stores still refused after 3 associations"
    found = wait_for_srs(orthanc, [uid for _, uid in studies])
    return [measured(stack, uid, found[uid]) for _, uid in studies], resent


def report(runs: list[tuple[float, ...]], quiet: float, title: str) -> str:
    """The table of one scenario."""
    latencies = [run[0] for run in runs]
    excluded = [t - quiet for t in latencies]

    def p50(i: int) -> str:
        return f"{percentile([run[i] for run in runs], 50):.3f}"

    rows = [
        ("studies", str(len(latencies))),
        ("quiet window (s)", f"{quiet:g}"),
        ("last instance received -> SR in Orthanc, p50 (s)", f"{percentile(latencies, 50):.3f}"),
        ("  same, p95 (s)", f"{percentile(latencies, 95):.3f}"),
        ("quiet window excluded, p50 (s)", f"{percentile(excluded, 50):.3f}"),
        ("quiet window excluded, p95 (s)", f"{percentile(excluded, 95):.3f}"),
        ("p50 stage: received -> study filed (incl. quiet) (s)", p50(1)),
        ("p50 stage: filed -> prediction recorded (s)", p50(2)),
        ("p50 stage: prediction -> SR stored by Orthanc (s)", p50(3)),
    ]
    return table(rows, title)


def results_out(studies: int, burst_size: int, quiet: float) -> None:
    """Section 2: last instance received -> AI SR stored in Orthanc (the outbound PACS), with 2 workers."""
    from tests.pacs.orthanc import orthanc_start, orthanc_stop

    os.environ["AIRSPACE_DICOM_STUDY_QUIET_SECONDS"] = f"{quiet:g}"
    with tempfile.TemporaryDirectory() as tmp, Stack() as stack:
        orthanc = orthanc_start(Path(tmp) / "orthanc")
        try:
            stack._manage("dicom_node", "add", "bench-modality", "--ae-title", CALLING_AE, "--host", "127.0.0.1",
                          "--port", "104", "--inbound")  # fmt: skip
            stack._manage("dicom_node", "add", "bench-pacs", "--ae-title", orthanc.aet, "--host", "127.0.0.1",
                          "--port", str(orthanc.dicom_port), "--outbound")  # fmt: skip
            port = free_port()
            command = [
                sys.executable,
                "manage.py",
                "dicom_listen",
                "--bind",
                "127.0.0.1",
                "--port",
                str(port),
            ]
            wait_listening(port, stack.spawn("dicom", command))
            one_by_one = sequential(stack, orthanc, port, Path(tmp), studies)
            backlog, resent = burst(stack, orthanc, port, Path(tmp), burst_size) if burst_size else ([], 0)
        finally:
            orthanc_stop(orthanc)
    print()
    print(report(one_by_one, quiet, "results out, one study at a time (after one warm-up study)"))
    if backlog:
        print(report(backlog, quiet, f"results out, {burst_size} studies in one association"))
        print(f"stores refused (0xA700) and sent again in the burst: {resent}")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--instances", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--studies", type=int, default=20, help="results out: studies one at a time")
    parser.add_argument("--burst", type=int, default=10, help="results out: studies in one association")
    parser.add_argument("--quiet", type=float, default=1.0, help="AIRSPACE_DICOM_STUDY_QUIET_SECONDS")
    parser.add_argument("--only", choices=("received", "results"), help="run one section only")
    args = parser.parse_args()
    if args.only != "results":
        received_rate(args.instances, args.rounds)
    if args.only != "received":
        results_out(args.studies, args.burst, args.quiet)


if __name__ == "__main__":
    main()
