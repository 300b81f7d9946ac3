"""DICOM results out: time from the last instance of a study received to its AI SR stored in Orthanc.

    .venv/bin/python bench/dicom_results.py [--studies 20] [--burst 10] [--quiet 1]

The real stack (bench/_stack.py: 2 Celery workers, beat, PostgreSQL, Redis) plus `manage.py dicom_listen`
and a real Orthanc 1.10 (the PACS, an outbound node). For each study, in turn: a chest DX with fresh UIDs
is sent by DCMTK storescu (one association); the clock starts at the instance's `received_at` (committed
by the listener before it answered) and stops when the bench, polling Orthanc's REST API every 10 ms, first
finds an SR in that StudyInstanceUID. The study waits out its quiet window (AIRSPACE_DICOM_STUDY_QUIET_
SECONDS) before it is analysed; that wait is subtracted ("quiet window excluded"), the rest is Airspace:
release, model, prediction, SR build and C-STORE. The first study (model load) is not counted.
Then a burst: `--burst` studies in one association (a PACS forwarding a backlog), measured the same way.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from datetime import datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from _stack import BIN, ROOT, Stack, free_port, percentile, table  # noqa: E402

from tests.fixtures.pacs_dicoms import fixture, with_new_uids  # noqa: E402
from tests.pacs.orthanc import Orthanc, orthanc_start, orthanc_stop  # noqa: E402


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


def wait_for_port(port: int) -> None:
    """Until the listener accepts connections (Django takes a few seconds to start)."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError):
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        time.sleep(0.1)
    raise RuntimeError("dicom_listen did not listen within 60 s")


def new_study(folder: Path, n: int) -> tuple[Path, str]:
    """A chest DX with fresh UIDs written for storescu, and its StudyInstanceUID."""
    import pydicom

    path = folder / f"study-{n}.dcm"
    path.write_bytes(with_new_uids(fixture("chest_dx_child.dcm")))
    return path, str(pydicom.dcmread(path, stop_before_pixels=True).StudyInstanceUID)


def send(port: int, paths: list[Path]) -> None:
    """One storescu association carrying every file."""
    sent = subprocess.run(["storescu", "-aet", "XRAY1", "-aec", "AIRSPACE", "127.0.0.1", str(port),
                           *map(str, paths)], capture_output=True, text=True, timeout=300)  # fmt: skip
    assert sent.returncode == 0, sent.stderr


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
        send(port, [path])
        runs.append(measured(stack, uid, wait_for_srs(orthanc, [uid])[uid]))
    return runs[1:]


def burst(stack: Stack, orthanc: Orthanc, port: int, folder: Path, n: int) -> list[tuple[float, ...]]:
    """n studies in one association (a PACS forwarding a backlog), all waited for together."""
    studies = [new_study(folder, 1000 + i) for i in range(n)]
    send(port, [path for path, _ in studies])
    found = wait_for_srs(orthanc, [uid for _, uid in studies])
    return [measured(stack, uid, found[uid]) for _, uid in studies]


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


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--studies", type=int, default=20)
    parser.add_argument("--quiet", type=float, default=1.0, help="AIRSPACE_DICOM_STUDY_QUIET_SECONDS")
    parser.add_argument("--burst", type=int, default=10, help="studies sent together afterwards (0: none)")
    args = parser.parse_args()
    os.environ["AIRSPACE_DICOM_STUDY_QUIET_SECONDS"] = f"{args.quiet:g}"
    port = free_port()
    with tempfile.TemporaryDirectory() as tmp, Stack() as stack:
        orthanc = orthanc_start(Path(tmp) / "orthanc")
        try:
            manage = [sys.executable, "manage.py", "dicom_node", "add"]
            for node in (["xray1", "--ae-title", "XRAY1", "--host", "127.0.0.1", "--port", "104", "--inbound"],
                         ["pacs", "--ae-title", orthanc.aet, "--host", "127.0.0.1", "--port", str(orthanc.dicom_port),
                          "--outbound"]):  # fmt: skip
                subprocess.run([*manage, *node], cwd=ROOT, env=stack.env(), check=True, capture_output=True)
            stack.spawn("listener", [str(BIN / "python"), "manage.py", "dicom_listen", "--bind", "127.0.0.1",
                                     "--port", str(port)])  # fmt: skip
            wait_for_port(port)
            one_by_one = sequential(stack, orthanc, port, Path(tmp), args.studies)
            backlog = burst(stack, orthanc, port, Path(tmp), args.burst) if args.burst else []
        finally:
            orthanc_stop(orthanc)
    print(report(one_by_one, args.quiet, "DICOM results out, one study at a time (bench/dicom_results.py)"))
    if backlog:
        print(report(backlog, args.quiet, f"DICOM results out, {args.burst} studies in one association"))


if __name__ == "__main__":
    main()
