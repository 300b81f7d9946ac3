"""Pipeline: upload->result latency at idle, sustained studies/s with 2 worker processes, and how that
compares with the bare predictor measured in the same run.

    .venv/bin/python bench/pipeline.py [--idle 20] [--sustained 600]

1. Idle: sequential uploads through the API of the running stack (gunicorn, 2 Celery workers, beat,
   PostgreSQL, Redis); each waits for its result (database polled every 10 ms).
2. Sustained: workers stopped, N studies uploaded (queued in Redis), both workers started together;
   throughput is (k - 1) / (last completion - first completion) over the k studies completed after both
   workers were ready, i.e. the two workers' steady-state rate.
3. Bare predictor: Predictor.predict on the same images in this process (2 LiteRT threads, both cores),
   then predict_batch in batches of 16.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from _stack import FINAL, Stack, image_paths, percentile, post_study, table  # noqa: E402


def idle_latency(stack: Stack, images: list[tuple[str, bytes]], n: int) -> list[float]:
    """Seconds from the start of each sequential upload until its study is final."""
    latencies = []
    for i in range(n):
        name, data = images[i % len(images)]
        started = time.perf_counter()
        status, body = post_study(stack, name, data, mrn="PIPE-IDLE")
        assert status == 201, body
        while not stack.query("SELECT 1 FROM diagnosis_study WHERE id = %s AND status = ANY(%s)",
                              (body["id"], list(FINAL))):  # fmt: skip
            time.sleep(0.01)
        latencies.append(time.perf_counter() - started)
    return latencies


def sustained(stack: Stack, images: list[tuple[str, bytes]], n: int) -> tuple[float, int]:
    """Studies/s of 2 worker processes draining n queued studies, counted once both are ready (a worker
    that boots first would otherwise drain alone for a while); also how many completed in that window."""
    for w in (1, 2):
        stack.kill_worker(w)
    stack.query("SELECT 1")  # the database is up
    with ThreadPoolExecutor(4) as pool:
        ids = list(
            pool.map(lambda i: post_study(stack, *images[i % len(images)], mrn="PIPE-Q")[1]["id"], range(n))
        )
    stack.start_workers(1, 2)
    both_ready = time.time()  # same clock as the workers' completed_at: one machine
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:
        done = stack.query("SELECT count(*) FROM diagnosis_study WHERE id = ANY(%s) AND status = ANY(%s)",
                           (ids, list(FINAL)))[0][0]  # fmt: skip
        if done == n:
            break
        time.sleep(0.5)
    first, last, completed = stack.query(
        "SELECT extract(epoch FROM min(completed_at)), extract(epoch FROM max(completed_at)), count(*) "
        "FROM diagnosis_study WHERE id = ANY(%s) AND status = 'completed' AND completed_at >= to_timestamp(%s)",
        (ids, both_ready),
    )[0]
    return (completed - 1) / (float(last) - float(first)), completed


def bare_predictor(images: list[tuple[str, bytes]], n: int) -> tuple[float, float]:
    """Images/s of sequential predict and of predict_batch(16), in this process with 2 threads."""
    os.environ["AIRSPACE_THREADS"] = "2"
    from mlcore.inference import load_predictor

    predictor = load_predictor(os.environ.get("AIRSPACE_MODEL_BUNDLE") or None)
    predictor.warm_up()
    data = [images[i % len(images)][1] for i in range(n)]
    started = time.perf_counter()
    for item in data:
        predictor.predict(item)
    sequential = n / (time.perf_counter() - started)
    started = time.perf_counter()
    for i in range(0, n, 16):
        predictor.predict_batch(data[i : i + 16])
    return sequential, n / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--idle", type=int, default=20)
    parser.add_argument("--sustained", type=int, default=600)
    args = parser.parse_args()
    images = [(p.name, p.read_bytes()) for p in image_paths()]
    with Stack(workers=2) as stack:
        latencies = idle_latency(stack, images, args.idle)
        rate, completed = sustained(stack, images, args.sustained)
    sequential, batched = bare_predictor(images, args.sustained)
    rows = [
        (f"idle upload->result p50 / p95 ({args.idle} sequential)",
         f"{percentile(latencies, 50):.3f} s / {percentile(latencies, 95):.3f} s"),
        (f"sustained pipeline, 2 worker processes ({completed} studies, both ready)", f"{rate:.2f} studies/s"),
        ("bare Predictor.predict, sequential (2 threads)", f"{sequential:.2f} images/s"),
        ("bare Predictor.predict_batch(16) (2 threads)", f"{batched:.2f} images/s"),
        ("pipeline / bare sequential predict", f"{rate / sequential:.2f}"),
        ("pipeline / bare predict_batch", f"{rate / batched:.2f}"),
    ]  # fmt: skip
    print(table(rows, f"pipeline on {len(images)} distinct real X-rays (cycled)"))


if __name__ == "__main__":
    main()
