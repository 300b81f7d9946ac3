"""Start the real stack on loopback for the benches: gunicorn, Celery workers, beat, PostgreSQL, Redis.

The stack gets its own database (`airspace_bench_<suffix>`, dropped and recreated), its own Redis DB
(flushed) and var directory, so a bench never touches a developer's data or the test databases. Several
people on one machine keep apart by BENCH_SUFFIX (default: $AIRSPACE_TEST_DB_NAME, else the user name) and
BENCH_REDIS_URL (default: $REDIS_URL, else DB 7). Used by bench/load.py, bench/worker_kill.py and
bench/pipeline.py; nothing here imports Django in the bench process.
"""

from __future__ import annotations

import getpass
import http.client
import json
import os
import re
import signal
import socket
import statistics
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
import redis

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
PG_ADMIN = os.environ.get("BENCH_PG_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
SUFFIX = re.sub(
    r"\W", "_", os.environ.get("BENCH_SUFFIX") or os.environ.get("AIRSPACE_TEST_DB_NAME") or getpass.getuser()
)
DB_NAME = os.environ.get("BENCH_DB_NAME", f"airspace_bench_{SUFFIX}")
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
BACKENDS_SQL = "SELECT pid FROM pg_stat_activity WHERE datname = %s"
REDIS_URL = os.environ.get("BENCH_REDIS_URL") or os.environ.get("REDIS_URL") or "redis://127.0.0.1:6379/7"
VAR_DIR = Path(os.environ.get("BENCH_VAR_DIR", f"/tmp/airspace-bench-{SUFFIX}"))
PASSWORD = "bench-password-not-secret"
FINAL = ("completed", "failed", "rejected", "cancelled")


def free_port() -> int:
    """A free loopback TCP port."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def image_paths(limit: int | None = None) -> list[Path]:
    """Real chest X-rays: the committed fixtures plus the shared full-resolution originals."""
    paths = sorted((ROOT / "tests" / "fixtures" / "xrays").glob("*/*.jp*g"))
    paths += sorted((ROOT.parent / "shared" / "data" / "originals").glob("*/*/*.jp*g"))
    return paths[:limit] if limit else paths


@dataclass
class Stack:
    """The running processes and how to reach them."""

    workers: int = 2
    concurrency: int = 1  # pool processes per worker (celery -c), 1 as in docker-compose.yml
    # gunicorn arguments besides the app and the bind address (bench/load.py compares several).
    web_args: tuple[str, ...] = ("-w", "2")
    port: int = field(default_factory=free_port)
    procs: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    token: str = ""
    # The source tree every process runs from (bench/load.py --baseline runs an older revision's tree).
    code: Path = ROOT
    _monitor_conn: psycopg.Connection[Any] | None = field(default=None, repr=False)
    _redis_pid: int = 0

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def db_url(self) -> str:
        return PG_ADMIN.rsplit("/", 1)[0] + f"/{DB_NAME}"

    def env(self, **extra: str) -> dict[str, str]:
        """The environment every stack process shares."""
        return {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "portal.settings.dev",
            "DJANGO_DEBUG": "0",
            "DATABASE_URL": self.db_url.replace("postgresql://", "postgres://"),
            "REDIS_URL": REDIS_URL,
            "AIRSPACE_VAR_DIR": str(VAR_DIR),
            "AIRSPACE_THREADS": "1",  # one LiteRT thread per worker process: 2 processes on 2 cores
            "LOG_LEVEL": "WARNING",
            "AIRSPACE_UPLOAD_THROTTLE": "1000000/min",  # one demo clinician drives the whole load
            # The throttle counters in Redis, shared by the web processes, as docker-compose.yml runs them.
            "AIRSPACE_CACHE_URL": REDIS_URL,
            "PYTHONUNBUFFERED": "1",
            "PYTHONPATH": str(self.code),  # this tree's packages first, whatever the venv's editable install
            **extra,
        }

    def start(self) -> Stack:
        """Fresh database, flushed Redis DB, migrations, a demo clinician; then web, workers and beat."""
        self._fresh_state()
        self._manage("migrate", "--noinput", "-v0")
        self._manage("seed_demo", "--password", PASSWORD)
        self.start_web(self.web_args)
        self.start_workers(*range(1, self.workers + 1))
        self.spawn(
            "beat", [str(BIN / "celery"), "-A", "portal", "beat", "-s", str(VAR_DIR / "beat-schedule")]
        )
        self.token = self.api_token()
        return self

    def start_web(self, args: tuple[str, ...] | list[str]) -> None:
        """(Re)start gunicorn with these arguments and wait until it answers. Arguments starting with
        `nice N` set the CPU weight of gunicorn's scheduling group to that of nice N (negative: more).

        Each component runs in its own session, so with the kernel's autogroup scheduling (on here) each
        is one scheduling group and the CPU is shared between groups, not processes: what compose's
        cpu_shares does between containers. A process's own nice value counts only inside its group, so
        it is the group's (/proc/PID/autogroup) that is set."""
        if "web" in self.procs:
            self.stop_process("web")
        self.web_args = tuple(args)
        nice = args[1] if list(args[:1]) == ["nice"] else None
        args = list(args[2:] if nice is not None else args)
        web = self.spawn("web", [str(BIN / "gunicorn"), "portal.wsgi", *args, "-b", f"127.0.0.1:{self.port}"])
        if nice is not None:
            Path(f"/proc/{web.pid}/autogroup").write_text(nice)
        self._wait_for_web()

    def stop_process(self, name: str) -> None:
        """TERM one process group and wait for it (KILL after 15 s)."""
        proc = self.procs.pop(name)
        with suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            with suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()

    def _fresh_state(self) -> None:
        with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{DB_NAME}" WITH (FORCE)')
            conn.execute(f'CREATE DATABASE "{DB_NAME}"')
        redis.Redis.from_url(REDIS_URL).flushdb()
        VAR_DIR.mkdir(parents=True, exist_ok=True)
        for name in ("beat-schedule",):
            with suppress(FileNotFoundError):
                (VAR_DIR / name).unlink()

    def _manage(self, *args: str) -> None:
        subprocess.run([sys.executable, "manage.py", *args], cwd=self.code, env=self.env(), check=True)

    def spawn(self, name: str, cmd: list[str]) -> subprocess.Popen[bytes]:
        """Start one process in its own group, logging to VAR_DIR/<name>.log."""
        log = (VAR_DIR / f"{name}.log").open("ab")
        proc = subprocess.Popen(cmd, cwd=self.code, env=self.env(), stdout=log, stderr=subprocess.STDOUT,
                                start_new_session=True)  # fmt: skip
        self.procs[name] = proc
        return proc

    def start_worker(self, n: int) -> subprocess.Popen[bytes]:
        """Celery worker n (one pool process), waiting until it is ready."""
        return self.start_workers(n)[0]

    def start_workers(self, *ns: int) -> list[subprocess.Popen[bytes]]:
        """Start workers ns at once (so none drains a queue alone while another boots); wait for all."""
        logs = {n: VAR_DIR / f"worker{n}.log" for n in ns}
        offsets = {n: path.stat().st_size if path.exists() else 0 for n, path in logs.items()}
        procs = {}
        for n in ns:
            cmd = [str(BIN / "celery"), "-A", "portal", "worker", "-Q", "inference", "-c", str(self.concurrency), "-n",
                   f"w{n}@%h", "--loglevel=INFO", "--without-gossip", "--without-mingle"]  # fmt: skip
            procs[n] = self.spawn(f"worker{n}", cmd)
        waiting = set(ns)
        deadline = time.monotonic() + 120
        while waiting and time.monotonic() < deadline:
            for n in list(waiting):
                if "ready." in logs[n].read_bytes()[offsets[n] :].decode(errors="replace"):
                    waiting.discard(n)
                elif procs[n].poll() is not None:
                    raise RuntimeError(f"worker {n} exited: see {logs[n]}")
            time.sleep(0.05)
        if waiting:
            raise RuntimeError(f"workers {sorted(waiting)} not ready after 120 s")
        return [procs[n] for n in ns]

    def kill_worker(self, n: int) -> None:
        """SIGKILL worker n's whole process group (main process and its pool child)."""
        proc = self.procs[f"worker{n}"]
        with suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()

    def _wait_for_web(self) -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            with suppress(OSError):
                urllib.request.urlopen(f"{self.base_url}/login/", timeout=2)
                return
            time.sleep(0.3)
        raise RuntimeError(f"gunicorn did not answer: see {VAR_DIR / 'web.log'}")

    def api_token(self) -> str:
        """The demo clinician's API token."""
        body = json.dumps({"username": "clinician", "password": PASSWORD}).encode()
        request = urllib.request.Request(
            f"{self.base_url}/api/v1/auth/token/", body, {"Content-Type": "application/json"}
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            return json.loads(response.read())["token"]

    def cpu_snapshot(self) -> dict[str, dict[int, float]]:
        """CPU seconds used so far by each process of the stack, by role (see CPU_ROLES), read from /proc:
        per-process counters, so the figures hold while other jobs share the machine."""
        roles = {proc.pid: name.rstrip("0123456789") for name, proc in self.procs.items()}
        backends = {row[0] for row in self._monitor().execute(BACKENDS_SQL, (DB_NAME,)).fetchall()}
        snapshot: dict[str, dict[int, float]] = {role: {} for role in CPU_ROLES}
        for pid in backends:
            with suppress(OSError, IndexError, ValueError):
                snapshot["postgres"][pid] = proc_group_cpu(pid)[1]
        # Each process the bench started leads its group; its children are gunicorn's workers, Celery's pool.
        for leader, name in roles.items():
            role = {"web": ("web master", "web"), "worker": ("worker main", "worker pool")}.get(
                name, (name, name)
            )
            with suppress(OSError, IndexError, ValueError):
                snapshot[role[0]][leader] = proc_group_cpu(leader)[1]
                for child in _children(leader):
                    with suppress(OSError, IndexError, ValueError):
                        snapshot[role[1]][child] = proc_group_cpu(child)[1]
        with suppress(OSError, IndexError, ValueError, redis.RedisError):
            if not self._redis_pid:
                self._redis_pid = int(redis.Redis.from_url(REDIS_URL).info("server")["process_id"])
            snapshot["redis (whole server)"][self._redis_pid] = proc_group_cpu(self._redis_pid)[1]
        snapshot["load client"][os.getpid()] = proc_group_cpu(os.getpid())[1]
        return snapshot

    def _monitor(self) -> psycopg.Connection[Any]:
        """The sampler's own connection, opened once, to the admin database: the bench process shares the
        stack's two cores, and a new connection per reading (4 a second) cost it ~9 CPU ms each, besides the
        backend it started; on the admin database its backend is not counted as the stack's."""
        if self._monitor_conn is None or self._monitor_conn.closed:
            self._monitor_conn = psycopg.connect(PG_ADMIN, autocommit=True)
        return self._monitor_conn

    def query(self, sql: str, params: Any = None) -> list[tuple[Any, ...]]:
        """Run a read query on the bench database."""
        with psycopg.connect(self.db_url) as conn:
            return conn.execute(sql, params).fetchall()

    def stop(self) -> None:
        """Stop every process (TERM, then KILL the group)."""
        if self._monitor_conn is not None:
            self._monitor_conn.close()
        for proc in self.procs.values():
            with suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
        deadline = time.monotonic() + 15
        for proc in self.procs.values():
            with suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            with suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)

    def __enter__(self) -> Stack:
        # A bench stopped by `timeout` or Ctrl-C still stops the processes it started.
        signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
        try:
            return self.start()
        except BaseException:
            self.stop()
            raise

    def __exit__(self, *exc: object) -> None:
        self.stop()


# The roles the CPU is split into. "redis (whole server)" counts every client of the Redis server (on a
# shared machine, other people's too); "load client" is the bench process itself (it shares the cores).
CPU_ROLES = ("web", "web master", "worker pool", "worker main", "beat", "postgres", "redis (whole server)",
             "load client")  # fmt: skip
# The stack's own cost per study: what the bench client and other Redis users spend is not in it.
STACK_ROLES = ("web", "web master", "worker pool", "worker main", "beat", "postgres")


def _children(pid: int) -> list[int]:
    """The process's children, from /proc/PID/task/TID/children (each of its threads may have forked some)."""
    kids: list[int] = []
    for tid in os.listdir(f"/proc/{pid}/task"):
        with open(f"/proc/{pid}/task/{tid}/children") as listing:
            kids += map(int, listing.read().split())
    return kids


def proc_group_cpu(pid: int) -> tuple[int, float]:
    """(process group, user + system CPU seconds) of one process, from /proc/PID/stat."""
    with open(f"/proc/{pid}/stat", "rb") as stat:
        fields = stat.read().rsplit(b")", 1)[1].split()
    return int(fields[2]), (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def cpu_used(before: dict[str, dict[int, float]], after: dict[str, dict[int, float]]) -> dict[str, float]:
    """CPU seconds each role used between two snapshots (processes gone in between are not counted)."""
    return {
        role: sum(cpu - before[role].get(pid, 0.0) for pid, cpu in pids.items())
        for role, pids in after.items()
    }


def machine_reference_ms(images: list[bytes]) -> float:
    """CPU ms, best of three, of one fixed workload in this process: a pure-Python loop, a full decode of 20
    of the bench's JPEGs and zlib on their bytes. The machine's speed differs from day to day (session 10's
    was ~1.3-1.5x slower than session 9's); bench/load.py prints this beside its figures so that runs on
    different days can be compared."""
    import io
    import zlib

    from PIL import Image

    sample = images[:20]

    def workload() -> None:
        total = 0
        for i in range(1_000_000):
            total += i
        for data in sample:
            with Image.open(io.BytesIO(data)) as image:
                image.load()
            zlib.compress(data, 6)

    best = float("inf")
    for _ in range(3):
        started = time.process_time()
        workload()
        best = min(best, (time.process_time() - started) * 1000)
    return best


def percentile(values: list[float], q: float) -> float:
    """The q-th percentile (0-100) by linear interpolation; nan for no values."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    k = (len(ordered) - 1) * q / 100
    lo, hi = int(k), min(int(k) + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


def timed_calls(call: Callable[[], object], calls: int) -> tuple[float, list[float]]:
    """Run call() `calls` times: CPU ms per call (this process) and each call's wall time in ms."""
    latencies = []
    cpu0 = time.process_time()
    for _ in range(calls):
        start = time.perf_counter()
        call()
        latencies.append((time.perf_counter() - start) * 1000)
    return (time.process_time() - cpu0) * 1000 / calls, latencies


def cost_table(cpu: dict[str, list[float]], latency: dict[str, list[float]], unit: str, plural: str) -> str:
    """One line per way of doing a call: median CPU ms per call over the rounds, the calls' wall-time
    percentiles and the calls per second they add up to."""
    lines = [f"{'':8} {'CPU ms/' + unit:>16} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} {plural + '/s':>12}"]
    for name, waits in latency.items():
        lines.append(
            f"{name:8} {statistics.median(cpu[name]):>16.3f} {percentile(waits, 50):>8.3f} "
            f"{percentile(waits, 95):>8.3f} {percentile(waits, 99):>8.3f} {len(waits) / (sum(waits) / 1000):>12.0f}"
        )
    return "\n".join(lines)


def table(rows: list[tuple[str, str]], title: str) -> str:
    """A plain two-column table."""
    width = max(len(name) for name, _ in rows)
    lines = [title, "-" * (width + 16)]
    lines += [f"{name:<{width}}  {value}" for name, value in rows]
    return "\n".join(lines)


def multipart(fields: dict[str, str], filename: str, data: bytes) -> tuple[bytes, str]:
    """A multipart/form-data body with text fields and one `image` file."""
    boundary = os.urandom(12).hex()
    parts = [
        f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'.encode()
        for k, v in fields.items()
    ]
    head = f'--{boundary}\r\nContent-Disposition: form-data; name="image"; filename="{filename}"\r\n'
    parts.append(head.encode() + b"Content-Type: application/octet-stream\r\n\r\n" + data + b"\r\n")
    parts.append(f"--{boundary}--\r\n".encode())
    return b"".join(parts), f"multipart/form-data; boundary={boundary}"


def post_study(stack: Stack, filename: str, data: bytes, mrn: str) -> tuple[int, dict[str, Any]]:
    """POST /api/v1/studies/ as the demo clinician; (status, JSON body).

    Plain http.client, one connection per upload (gunicorn's sync workers close each): the load client shares
    the stack's two cores, and urllib's opener machinery cost it ~0.5 CPU ms per upload for nothing."""
    body, content_type = multipart({"patient_mrn": mrn}, filename, data)
    conn = http.client.HTTPConnection("127.0.0.1", stack.port, timeout=60)
    try:
        conn.request(
            "POST",
            "/api/v1/studies/",
            body,
            {"Content-Type": content_type, "Authorization": f"Token {stack.token}"},
        )
        response = conn.getresponse()
        payload = response.read()
    except http.client.HTTPException as exc:
        # A malformed answer counts as a failed upload, as an OSError does.
        raise OSError(f"bad HTTP answer: {exc!r}") from exc
    finally:
        conn.close()
    if response.status >= 400:
        return response.status, {"error": payload[:200].decode(errors="replace")}
    return response.status, json.loads(payload)
