"""Load: 500 uploads of real chest X-rays at concurrency 16 through the API of the running stack.

Starts gunicorn (-w 2), two Celery worker processes, beat, on PostgreSQL (own database) and Redis (DB 7),
then prints throughput, upload and upload->result latency percentiles, the error count, and whether every
study reached a final state with exactly one prediction (none lost, none duplicated). It then repeats the
run with one worker SIGKILLed and restarted halfway through.

    .venv/bin/python bench/load.py [--uploads 500] [--concurrency 16]
"""

from __future__ import annotations

import argparse
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _stack import FINAL, Stack, image_paths, percentile, post_study, table  # noqa: E402

ROUND_TIMEOUT_S = 600


@dataclass
class Upload:
    started: float
    finished: float
    status: int
    study_id: str | None


def upload_all(stack: Stack, images: list[tuple[str, bytes]], n: int, concurrency: int, halfway=None) -> list:
    """Send n uploads (cycling over the images) with `concurrency` clients; call halfway() at n/2."""
    fired = threading.Event()

    def one(i: int) -> Upload:
        if halfway and i >= n // 2 and not fired.is_set():
            fired.set()
            threading.Thread(target=halfway, daemon=True).start()
        name, data = images[i % len(images)]
        started = time.time()
        try:
            status, body = post_study(stack, name, data, mrn=f"LOAD-{i % 50:03d}")
        except OSError:
            status, body = 0, {}
        return Upload(started, time.time(), status, body.get("id") if status == 201 else None)

    with ThreadPoolExecutor(concurrency) as pool:
        return list(pool.map(one, range(n)))


def wait_final(stack: Stack, ids: list[str], timeout: float) -> None:
    """Poll the database until every uploaded study is in a final state (or the timeout passes)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        pending = stack.query("SELECT count(*) FROM diagnosis_study WHERE id = ANY(%s) AND NOT status = ANY(%s)",
                              (ids, list(FINAL)))[0][0]  # fmt: skip
        if pending == 0:
            return
        time.sleep(0.5)


def report(stack: Stack, uploads: list[Upload], title: str) -> str:
    """Measure from the database: final states, predictions per study, latencies, throughput."""
    ids = [u.study_id for u in uploads if u.study_id]
    rows = stack.query(
        "SELECT s.id::text, s.status, extract(epoch FROM s.completed_at), count(p.id) FROM diagnosis_study s "
        "LEFT JOIN diagnosis_prediction p ON p.study_id = s.id WHERE s.id = ANY(%s) GROUP BY s.id",
        (ids,),
    )
    by_id = {r[0]: r for r in rows}
    started = {u.study_id: u.started for u in uploads if u.study_id}
    results = [float(r[2]) - started[r[0]] for r in rows if r[1] == "completed" and r[2] is not None]
    up_ms = [(u.finished - u.started) * 1000 for u in uploads]
    statuses = {s: sum(1 for r in rows if r[1] == s) for s in sorted({r[1] for r in rows})}
    completed = [r for r in rows if r[1] == "completed"]
    end = max([float(r[2]) for r in rows if r[2] is not None] or [time.time()])
    wall = end - min(u.started for u in uploads)
    lost = len([i for i in ids if i not in by_id or by_id[i][1] not in FINAL])
    out = [
        ("uploads sent", str(len(uploads))),
        ("upload errors (non-201)", str(sum(1 for u in uploads if u.status != 201))),
        ("wall time, first upload to last result", f"{wall:.1f} s"),
        ("throughput (studies completed / s)", f"{len(completed) / wall:.2f}"),
        ("upload latency p50 / p95 / p99", " / ".join(f"{percentile(up_ms, q):.0f} ms" for q in (50, 95, 99))),
        ("upload->result p50 / p95 / p99 / max",
         " / ".join(f"{percentile(results, q):.2f} s" for q in (50, 95, 99, 100))),
        ("final states", ", ".join(f"{k} {v}" for k, v in statuses.items())),
        ("studies not final (lost)", str(lost)),
        ("completed with exactly one prediction", f"{sum(1 for r in completed if r[3] == 1)} / {len(completed)}"),
        ("studies with more than one prediction", str(sum(1 for r in rows if r[3] > 1))),
        ("all final, one prediction each", "YES" if lost == 0 and all(r[3] == 1 for r in completed)
         and all(r[3] == 0 for r in rows if r[1] != "completed") and len(rows) == len(uploads) else "NO"),
    ]  # fmt: skip
    return table(out, title)


def run(stack: Stack, images: list[tuple[str, bytes]], n: int, concurrency: int, kill: bool) -> str:
    """One round; with kill, worker 1 is SIGKILLed and restarted when half the uploads are sent."""
    events: list[str] = []

    def kill_and_restart() -> None:
        stack.kill_worker(1)
        events.append(f"worker 1 SIGKILLed at {time.strftime('%X')}")
        time.sleep(2)
        stack.start_worker(1)
        events.append(f"worker 1 back at {time.strftime('%X')}")

    uploads = upload_all(stack, images, n, concurrency, halfway=kill_and_restart if kill else None)
    wait_final(stack, [u.study_id for u in uploads if u.study_id], ROUND_TIMEOUT_S)
    title = f"{n} uploads, concurrency {concurrency}" + (
        ", worker 1 killed and restarted halfway" if kill else ""
    )
    return report(stack, uploads, title) + ("\n" + "\n".join(events) if events else "")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--uploads", type=int, default=500)
    parser.add_argument("--concurrency", type=int, default=16)
    args = parser.parse_args()
    images = [(p.name, p.read_bytes()) for p in image_paths()]
    print(f"{len(images)} distinct real X-rays, cycled; stack: gunicorn -w 2, 2 Celery workers (-c 1), beat")
    with Stack(workers=2) as stack:
        print(run(stack, images, args.uploads, args.concurrency, kill=False), flush=True)
        print()
        print(run(stack, images, args.uploads, args.concurrency, kill=True), flush=True)


if __name__ == "__main__":
    main()
