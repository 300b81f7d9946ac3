"""Dead-worker recovery: how long after a SIGKILL a killed worker's study completes, with a backlog queued.

    .venv/bin/python bench/worker_kill.py [--rounds 8] [--backlog 600]

Starts the stack (2 Celery workers -c 1, beat, gunicorn, PostgreSQL and Redis of its own; bench/_stack.py).
First 50 real uploads through the API; then each round: both workers stopped, `--backlog` queued studies
made from those (copies sharing the stored image, enqueued like uploads), both workers started together; once they are draining, worker 1 is SIGKILLed (main process and pool child) while it
holds a claim, and restarted at once. Worker 2 stays alive throughout, so "a live worker is available"
from the moment of the kill. Per kill it prints the studies still queued at the kill, the seconds until
the claim was released (the audit row `study.requeued`) and until the study completed; then percentiles
over all kills, and whether every study of every round has exactly one prediction.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _stack import FINAL, ROOT, Stack, image_paths, percentile, post_study, table  # noqa: E402

# Run inside the stack's Django (manage.py shell): N new queued studies, each a copy of an uploaded study
# (same patient and stored image file), enqueued like uploads. Uploading them through gunicorn would
# take minutes per round on a busy machine; the recovery being measured is the same.
_BACKLOG_CODE = """
from diagnosis.models import Image, Study
from diagnosis.services.studies import study_enqueue
sources = list(Image.objects.select_related("study").filter(study__status="completed")[:50])
copies = []
for n in range({n}):
    image = sources[n % len(sources)]
    study = Study.objects.create(patient_id=image.study.patient_id, created_by_id=image.study.created_by_id,
                                 department_id=image.study.department_id)
    Image.objects.create(study=study, file=image.file.name, original_filename=image.original_filename,
                         sha256=image.sha256, size_bytes=image.size_bytes, width=image.width,
                         height=image.height, format=image.format, meta=image.meta)
    copies.append(str(study.id))
for study_id in copies:
    study_enqueue(study_id=study_id)
print("\\n".join(copies))
"""


def seed(stack: Stack, images: list[tuple[str, bytes]], n: int = 50) -> None:
    """n real uploads through the API (concurrency 16), processed: the sources of every backlog."""

    def one(i: int) -> str:
        status, body = post_study(stack, *images[i % len(images)], mrn=f"KILL-{i % 50:03d}")
        assert status == 201, body
        return body["id"]

    with ThreadPoolExecutor(16) as pool:
        ids = list(pool.map(one, range(n)))
    wait(lambda: count(stack, ids, list(FINAL)) == len(ids), 300)


def queue_backlog(stack: Stack, n: int) -> list[str]:
    """n queued studies (workers stopped), their ids."""
    out = subprocess.run([sys.executable, "manage.py", "shell", "-c", _BACKLOG_CODE.format(n=n)], cwd=ROOT,
                         env=stack.env(), check=True, capture_output=True, text=True).stdout  # fmt: skip
    return [line for line in out.split() if len(line) == 36]


def count(stack: Stack, ids: list[str], statuses: list[str]) -> int:
    sql = "SELECT count(*) FROM diagnosis_study WHERE id = ANY(%s) AND status = ANY(%s)"
    return stack.query(sql, (ids, statuses))[0][0]


def wait(predicate, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return False


def released_at(stack: Stack, study_id: str) -> float | None:
    """Epoch of the study.requeued audit row (the audit table moves with the app split: try both)."""
    for audit_table in ("audit_auditevent", "diagnosis_auditevent"):
        try:
            rows = stack.query(f"SELECT extract(epoch FROM created_at) FROM {audit_table} "
                               "WHERE action = 'study.requeued' AND object_id = %s", (study_id,))  # fmt: skip
        except Exception:  # noqa: BLE001 - that table does not exist in this version
            continue
        return float(rows[0][0]) if rows else None
    return None


def one_kill(stack: Stack, backlog: int) -> list[dict[str, float]]:
    """One round; a dict per study the killed worker held."""
    for w in (1, 2):
        stack.kill_worker(w)
    ids = queue_backlog(stack, backlog)
    stack.start_workers(1, 2)
    # Both draining, worker 1 in the middle of a study.
    # Claimed (processing) or received but not yet started (queued, reserved): either is worker 1's.
    held_sql = ("SELECT id::text FROM diagnosis_study WHERE id = ANY(%s) AND status IN ('processing', 'queued') "
                "AND processing_worker LIKE 'w1@%%'")  # fmt: skip
    wait(lambda: count(stack, ids, list(FINAL)) >= 20 and stack.query(held_sql, (ids,)), 60)
    stack.kill_worker(1)
    killed = time.time()
    held = [r[0] for r in stack.query(held_sql, (ids,))]
    queued = count(stack, ids, ["queued"])
    threading.Thread(target=stack.start_worker, args=(1,), daemon=True).start()  # back when it is back
    wait(lambda: count(stack, held, list(FINAL)) == len(held), 180)
    done = {r[0]: float(r[1] or 0) for r in stack.query(
        "SELECT id::text, extract(epoch FROM completed_at) FROM diagnosis_study WHERE id = ANY(%s)", (held,))}  # fmt: skip
    wait(lambda: count(stack, ids, list(FINAL)) == len(ids), 600)
    time.sleep(0.5)
    return [
        {
            "queued": queued,
            "released": (released_at(stack, s) or float("nan")) - killed,
            "completed": done[s] - killed,
        }
        for s in held
    ]


def exactly_once(stack: Stack) -> tuple[int, int, int]:
    """(studies, studies not completed with one prediction, studies with more than one prediction)."""
    rows = stack.query("SELECT s.status, count(p.id) FROM diagnosis_study s LEFT JOIN diagnosis_prediction p "
                       "ON p.study_id = s.id GROUP BY s.id")  # fmt: skip
    return len(rows), sum(1 for s, n in rows if s != "completed" or n != 1), sum(1 for _, n in rows if n > 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=8)
    parser.add_argument("--backlog", type=int, default=400)
    args = parser.parse_args()
    images = [(p.name, p.read_bytes()) for p in image_paths()]
    kills: list[dict[str, float]] = []
    with Stack(workers=2) as stack:
        seed(stack, images)
        for n in range(1, args.rounds + 1):
            held = one_kill(stack, args.backlog)
            if not held:
                print(f"round {n}: worker 1 held no study at the kill (between two studies)", flush=True)
            for k in held:
                kills.append(k)
                print(f"round {n}: {k['queued']:.0f} studies queued at the kill; claim released after "
                      f"{k['released']:.1f} s, study completed {k['completed']:.1f} s after the SIGKILL", flush=True)  # fmt: skip
        studies, not_once, duplicated = exactly_once(stack)
    completed = [k["completed"] for k in kills]
    released = [k["released"] for k in kills]
    rows = [
        ("kills (studies held by the killed worker)", str(len(kills))),
        ("studies queued at the kill (min / median)",
         f"{min(k['queued'] for k in kills):.0f} / {percentile([k['queued'] for k in kills], 50):.0f}"),
        ("kill -> claim released p50 / p90 / max", " / ".join(f"{percentile(released, q):.1f} s" for q in (50, 90, 100))),
        ("kill -> study completed p50 / p90 / max", " / ".join(f"{percentile(completed, q):.1f} s" for q in (50, 90, 100))),
        ("studies in all rounds", str(studies)),
        ("not completed with exactly one prediction", str(not_once)),
        ("with more than one prediction", str(duplicated)),
    ]  # fmt: skip
    print()
    print(table(rows, f"Worker SIGKILLed mid-study, a live worker and a backlog of {args.backlog} studies"))


if __name__ == "__main__":
    main()
