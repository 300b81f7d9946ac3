"""Load: uploads of real chest X-rays at concurrency 16 through the API of the running stack, comparing
gunicorn configurations (and, with --baseline, an older revision's code) side by side in one run.

Starts the stack (2 Celery worker processes, beat, PostgreSQL in its own database, Redis in its own DB; see
bench/_stack.py), then for each round and each gunicorn configuration restarts only gunicorn and sends the
uploads. Per run it prints throughput, upload and upload->result latency percentiles, the error count,
whether every study reached a final state with exactly one prediction, and the CPU milliseconds per study
of each component (gunicorn workers and master, Celery pool and main processes, beat, the PostgreSQL
backends, the Redis server, the load client), read from /proc so they hold while other jobs share the
machine; then one table with every run side by side. Configurations alternate within a round so machine
noise hits them alike.

    .venv/bin/python bench/load.py [--uploads 500] [--concurrency 16] [--rounds 2]
        [--config NAME='GUNICORN ARGS' ...] [--baseline REV] [--kill] [--repeat-files]
        [--workers 2] [--pool 1]

Default configurations: `compose` (gunicorn -w 2, what docker-compose.yml ships) and `web-820` (the same
with the web's scheduling group at nice 1's weight, 820 against the other components' 1024; see
Stack.start_web). --baseline REV runs git revision REV's code (git
archive into the bench's var folder) in its own stack before the working tree's in every round, so a change's CPU per study is measured against
what it replaced under the same machine load. Every upload is a distinct file, as real uploads are (a JPEG
comment segment makes the bytes differ, the pixels do not); --repeat-files sends the images as they are,
so most uploads duplicate an earlier study (the bench's behaviour before 2026-11-28). --kill adds a run per configuration with worker 1 SIGKILLed
and restarted halfway (bench/worker_kill.py measures that recovery in detail).
"""

from __future__ import annotations

import argparse
import shlex
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import redis

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _stack import (  # noqa: E402
    FINAL,
    REDIS_URL,
    ROOT,
    STACK_ROLES,
    VAR_DIR,
    Stack,
    cpu_used,
    image_paths,
    machine_reference_ms,
    percentile,
    post_study,
    table,
)

ROUND_TIMEOUT_S = 600
WARMUP_UPLOADS = 32
SAMPLE_S = 0.25
# What docker-compose.yml ships (2 sync processes, equal CPU weights) against the web at nice 1's weight (820),
# measured in session 11. gthread (2 x 4 threads) lost to sync here before (docs/RELIABILITY.md, "Load").
DEFAULT_CONFIGS = {
    "compose": "-w 2",
    "web-820": "nice 1 -w 2",
}


@dataclass
class Upload:
    started: float
    finished: float
    status: int
    study_id: str | None


@dataclass
class Run:
    """One measured run: the figures the side-by-side table shows."""

    config: str
    uploads: int
    errors: int
    throughput: float
    upload_ms: tuple[float, float, float]
    result_s: tuple[float, float, float, float]
    exactly_once: bool
    cpu_ms: dict[str, float]
    text: str

    @property
    def stack_ms(self) -> float:
        """CPU ms per upload of the whole stack: web, workers, beat, the bench database's backends."""
        return sum(self.cpu_ms[role] for role in STACK_ROLES)

    @property
    def capacity(self) -> float:
        """Uploads/s two idle cores could carry at this CPU cost per upload (the stack, not the client)."""
        return 2000 / self.stack_ms


class CpuSampler:
    """Reads every process's CPU counters every SAMPLE_S while a run lasts and keeps the last reading of
    each: a process that exits mid-run (a PostgreSQL backend whose connection Celery recycles after
    CELERY_DB_REUSE_MAX tasks, a worker killed by --kill) is counted up to its last reading, not dropped."""

    def __init__(self, stack: Stack) -> None:
        self.stack = stack
        self.latest: dict[str, dict[int, float]] = {}
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def _sample(self) -> None:
        snapshot = self.stack.cpu_snapshot()
        with self._lock:
            for role, pids in snapshot.items():
                seen = self.latest.setdefault(role, {})
                for pid, cpu in pids.items():
                    seen[pid] = max(cpu, seen.get(pid, 0.0))

    def sample_now(self) -> dict[str, dict[int, float]]:
        """One reading now (between the 0.25 s ones); a copy of the readings so far."""
        self._sample()
        with self._lock:
            return {role: dict(pids) for role, pids in self.latest.items()}

    def _loop(self) -> None:
        while not self._stop.wait(SAMPLE_S):
            self._sample()

    def __enter__(self) -> CpuSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self._sample()


def distinct_copy(data: bytes, tag: str) -> bytes:
    """The JPEG with a comment segment after its start marker: other bytes (so another sha256, not a
    duplicate upload), the same pixels."""
    comment = tag.encode()
    return data[:2] + b"\xff\xfe" + (len(comment) + 2).to_bytes(2, "big") + comment + data[2:]


def upload_all(
    stack: Stack, images: list[tuple[str, bytes]], n: int, concurrency: int, halfway=None, tag: str = ""
) -> list:
    """Send n uploads (cycling over the images) with `concurrency` clients; call halfway() at n/2. With a
    tag, each upload is a distinct file (distinct_copy), as real uploads are; without, the images repeat
    and nearly every upload is a duplicate of an earlier study (the scoped duplicate lookup runs)."""
    fired = threading.Event()

    def one(i: int) -> Upload:
        if halfway and i >= n // 2 and not fired.is_set():
            fired.set()
            threading.Thread(target=halfway, daemon=True).start()
        name, data = images[i % len(images)]
        data = distinct_copy(data, f"{tag} {i}") if tag else data
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


def wait_drained(stack: Stack, timeout: float) -> float:
    """Wait until the broker holds no message, queued or taken and not yet acknowledged (the notification
    and email tasks a result publishes run after it); seconds waited. The CPU read after this counts the
    whole of each study's work, not only what ran before its result was written."""
    broker = redis.Redis.from_url(REDIS_URL)
    started = deadline = time.monotonic()
    deadline += timeout
    quiet = 0
    while time.monotonic() < deadline and quiet < 3:
        queued = sum(broker.llen(key) for key in broker.scan_iter(count=1000) if broker.type(key) == b"list")
        quiet = quiet + 1 if queued == 0 and broker.hlen("unacked") == 0 else 0
        time.sleep(0.1)
    return time.monotonic() - started


def report(stack: Stack, uploads: list[Upload], config: str, title: str, cpu: dict[str, float]) -> Run:
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
    first = min(u.started for u in uploads)
    upload_rate = len(uploads) / (max(u.finished for u in uploads) - first)
    end = max([float(r[2]) for r in rows if r[2] is not None] or [time.time()])
    wall = end - first
    lost = len([i for i in ids if i not in by_id or by_id[i][1] not in FINAL])
    cpu_ms = {role: 1000 * seconds / len(uploads) for role, seconds in cpu.items()}
    errors = sum(1 for u in uploads if u.status != 201)
    told = stack.query(
        "SELECT count(DISTINCT e.id), count(n.id), count(n.id) FILTER (WHERE n.email_state = 'sent') "
        "FROM notifications_notificationevent e LEFT JOIN notifications_notification n ON n.event_id = e.id "
        "WHERE e.study_id = ANY(%s)",
        (ids,),
    )[0]
    # One email may carry several notifications (notifications.services.email): count the messages too.
    emails = stack.query(
        "SELECT count(*) FROM diagnosis_auditevent WHERE action = 'notification.email_sent' AND object_id = ANY(%s)",
        ([str(i) for i in ids],),
    )[0][0]
    once = (lost == 0 and all(r[3] == 1 for r in completed) and all(r[3] == 0 for r in rows if r[1] != "completed")
            and len(rows) == len(uploads))  # fmt: skip
    up = tuple(percentile(up_ms, q) for q in (50, 95, 99))
    res = tuple(percentile(results, q) for q in (50, 95, 99, 100))
    out = [
        ("uploads sent", str(len(uploads))),
        ("upload errors (non-201)", str(errors)),
        ("uploads accepted / s (first sent to last answered)", f"{upload_rate:.1f}"),
        ("wall time, first upload to last result", f"{wall:.1f} s"),
        ("throughput (studies completed / s)", f"{len(completed) / wall:.2f}"),
        ("upload latency p50 / p95 / p99", " / ".join(f"{v:.0f} ms" for v in up)),
        ("upload->result p50 / p95 / p99 / max", " / ".join(f"{v:.2f} s" for v in res)),
        ("notification events / notifications / notifications emailed / emails",
         " / ".join(str(v) for v in (*told, emails))),
        ("final states", ", ".join(f"{k} {v}" for k, v in statuses.items())),
        ("studies not final (lost)", str(lost)),
        ("completed with exactly one prediction", f"{sum(1 for r in completed if r[3] == 1)} / {len(completed)}"),
        ("studies with more than one prediction", str(sum(1 for r in rows if r[3] > 1))),
        ("all final, one prediction each", "YES" if once else "NO"),
        *((f"CPU ms per upload: {role}", f"{ms:.1f}") for role, ms in cpu_ms.items()),
        ("CPU ms per upload: the stack (web, workers, beat, postgres)",
         f"{sum(cpu_ms[role] for role in STACK_ROLES):.1f}"),
        ("=> uploads/s 2 idle cores could carry", f"{2000 / sum(cpu_ms[r] for r in STACK_ROLES):.0f}"),
    ]  # fmt: skip
    return Run(config, len(uploads), errors, upload_rate, up, res, once, cpu_ms, table(out, title))  # type: ignore[arg-type]


def run(
    stack: Stack,
    images: list[tuple[str, bytes]],
    config: str,
    n: int,
    concurrency: int,
    kill: bool,
    distinct: bool = True,
) -> Run:
    """One run; with kill, worker 1 is SIGKILLed and restarted when half the uploads are sent. distinct:
    every upload a different file (the default since 2026-11-28; before, the 156 images repeated)."""
    tag = f"airspace-bench {config} {time.time_ns()}" if distinct else ""
    events: list[str] = []

    def kill_and_restart() -> None:
        stack.kill_worker(1)
        events.append(f"worker 1 SIGKILLed at {time.strftime('%X')}")
        time.sleep(2)
        stack.start_worker(1)
        events.append(f"worker 1 back at {time.strftime('%X')}")

    # Warm-up, not measured: every gunicorn and Celery process has served a few studies (first-use imports,
    # connections, caches), so the figures are the steady state's, not boot costs spread over the run.
    warm = upload_all(stack, images[::-1], WARMUP_UPLOADS, concurrency, tag=tag and f"{tag} warm-up")
    wait_final(stack, [u.study_id for u in warm if u.study_id], ROUND_TIMEOUT_S)
    wait_drained(stack, ROUND_TIMEOUT_S)
    before = stack.cpu_snapshot()
    with CpuSampler(stack) as sampler:
        uploads = upload_all(
            stack, images, n, concurrency, halfway=kill_and_restart if kill else None, tag=tag
        )
        wait_final(stack, [u.study_id for u in uploads if u.study_id], ROUND_TIMEOUT_S)
        at_results = sampler.sample_now()
        drained_after = wait_drained(stack, ROUND_TIMEOUT_S)
    cpu = cpu_used(before, sampler.latest)
    burst = {role: 1000 * cpu_used(before, at_results).get(role, 0.0) / n for role in STACK_ROLES}
    title = f"[{config}: gunicorn {' '.join(stack.web_args)}] {n} uploads, concurrency {concurrency}" + (
        ", worker 1 killed and restarted halfway" if kill else ""
    )
    result = report(stack, uploads, config, title, cpu)
    events.append(f"broker drained {drained_after:.1f} s after the last result (its tasks' CPU is counted)")
    events.append(
        f"CPU ms per upload until the last result: the stack {sum(burst.values()):.1f} ("
        + ", ".join(f"{role} {ms:.1f}" for role, ms in burst.items() if ms >= 0.05)
        + "); the rest ran after it (notification tasks queued behind the studies)"
    )
    result.text += "\n" + "\n".join(events) if events else ""
    return result


def side_by_side(runs: list[Run], configs: dict[str, str]) -> str:
    """Every run in one table, grouped by configuration."""
    head = (f"{'config':<16} {'uploads/s':>9} {'errors':>6} {'upload p50/p95/p99 ms':>22} "
            f"{'result p50/p95/p99/max s':>26}  once  {'CPU ms/study web+wk+pg=stack':>28} {'2-core cap/s':>12}")  # fmt: skip
    lines = ["Side by side (each row one run)", head, "-" * len(head)]
    for name in configs:
        for r in (r for r in runs if r.config == name):
            up = "/".join(f"{v:.0f}" for v in r.upload_ms)
            res = "/".join(f"{v:.2f}" for v in r.result_s)
            web = r.cpu_ms["web"] + r.cpu_ms["web master"]
            worker = r.cpu_ms["worker pool"] + r.cpu_ms["worker main"]
            cpu = f"{web:.0f}+{worker:.0f}+{r.cpu_ms['postgres']:.0f}={r.stack_ms:.0f}"
            lines.append(f"{name:<16} {r.throughput:>9.1f} {r.errors:>6} {up:>22} {res:>26}  "
                         f"{'YES' if r.exactly_once else 'NO ':<4} {cpu:>28} {r.capacity:>12.0f}")  # fmt: skip
    lines += [f"  {name}: gunicorn {args}" for name, args in configs.items()]
    return "\n".join(lines)


def baseline_tree(revision: str) -> Path:
    """The source tree of an older revision (git archive into the bench's var folder), to run side by side."""
    sha = subprocess.run(["git", "rev-parse", "--short", revision], cwd=ROOT, check=True,
                         capture_output=True, text=True).stdout.strip()  # fmt: skip
    tree = VAR_DIR / f"baseline-{sha}"
    if not (tree / "manage.py").exists():
        tree.mkdir(parents=True, exist_ok=True)
        archive = subprocess.run(["git", "archive", sha], cwd=ROOT, check=True, capture_output=True).stdout
        subprocess.run(["tar", "-x", "-C", str(tree)], input=archive, check=True)
    return tree


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--uploads", type=int, default=500)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=2, help="runs per configuration, interleaved")
    parser.add_argument("--config", action="append", default=[], help="NAME='gunicorn args' (repeatable)")
    parser.add_argument("--kill", action="store_true", help="also a run with worker 1 killed halfway")
    parser.add_argument("--baseline", metavar="REV", help="also run git revision REV's code, interleaved")
    parser.add_argument("--workers", type=int, default=2, help="Celery worker processes")
    parser.add_argument(
        "--pool", type=int, default=1, help="pool processes per worker, celery -c (compose: 2 workers, -c 1)"
    )
    parser.add_argument(
        "--repeat-files",
        action="store_true",
        help="send the 156 images as they are, so most uploads duplicate an earlier study (before 2026-11-28)",
    )
    args = parser.parse_args()
    configs = dict(c.split("=", 1) for c in args.config) or DEFAULT_CONFIGS
    trees = {"": ROOT}
    if args.baseline:
        tree = baseline_tree(args.baseline)
        trees = {f"{tree.name.removeprefix('baseline-')}:": tree, "": ROOT}
    names = {f"{prefix}{name}": web for prefix in trees for name, web in configs.items()}
    images = [(p.name, p.read_bytes()) for p in image_paths()]
    print(
        f"{len(images)} distinct real X-rays, cycled"
        + (
            ", sent as they are (most uploads duplicate an earlier study)"
            if args.repeat_files
            else ", each upload a distinct file (a JPEG comment added: other bytes, same pixels)"
        )
        + f"; stack: {args.workers} Celery worker(s) (-c {args.pool}), beat; gunicorn per run"
    )
    reference = machine_reference_ms([data for _, data in images])
    print(f"machine reference workload (bench/_stack.machine_reference_ms): {reference:.0f} CPU ms")
    runs: list[Run] = []
    for _ in range(args.rounds):
        for prefix, tree in trees.items():
            # One stack per source tree and round; only gunicorn restarts between configurations.
            with Stack(
                workers=args.workers,
                concurrency=args.pool,
                web_args=tuple(shlex.split(next(iter(configs.values())))),
                code=tree,
            ) as stack:
                for name, web in configs.items():
                    stack.start_web(shlex.split(web))
                    runs.append(
                        run(
                            stack,
                            images,
                            prefix + name,
                            args.uploads,
                            args.concurrency,
                            kill=False,
                            distinct=not args.repeat_files,
                        )
                    )
                    print(runs[-1].text, "\n", flush=True)
    if args.kill:
        with Stack(
            workers=args.workers,
            concurrency=args.pool,
            web_args=tuple(shlex.split(next(iter(configs.values())))),
        ) as stack:
            for name, web in configs.items():
                stack.start_web(shlex.split(web))
                print(
                    run(
                        stack,
                        images,
                        name,
                        args.uploads,
                        args.concurrency,
                        kill=True,
                        distinct=not args.repeat_files,
                    ).text,
                    "\n",
                    flush=True,
                )
    print(side_by_side(runs, names))
    after = machine_reference_ms([data for _, data in images])
    print(f"  machine reference workload: {reference:.0f} CPU ms before the runs, {after:.0f} after")
    if args.baseline:
        print(
            f"  {next(iter(trees))} the code of git revision {args.baseline} (unprefixed: the working tree)"
        )


if __name__ == "__main__":
    main()
