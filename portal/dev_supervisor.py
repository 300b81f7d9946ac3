"""`make run`'s process supervisor: start the web server and the worker, stop both cleanly once.

    python -m portal.dev_supervisor "CMD 1" "CMD 2" ...

Why not `trap 'kill 0' EXIT INT TERM` in the Makefile: `kill 0` signals the whole process group, the shell
and make included, so the trap fired again on its own signal (thousands of "Warm shutdown" lines, then make
crashed). Here each child runs in its own session, out of reach of the terminal's Ctrl-C, and this process
alone decides: on the first SIGINT/SIGTERM (or when one child exits) every child gets one
SIGTERM, then SIGKILL to its process group after GRACE_SECONDS; a second Ctrl-C kills at once.
"""

from __future__ import annotations

import os
import shlex
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from types import FrameType

GRACE_SECONDS = 20.0
POLL_SECONDS = 0.2


class Supervisor:
    """Children started together and stopped together, each signalled at most once per stage."""

    def __init__(self, commands: Sequence[str], grace: float = GRACE_SECONDS) -> None:
        self.commands = list(commands)
        self.grace = grace
        self.children: list[subprocess.Popen[bytes]] = []
        self.stopping = False
        self.killed = False
        self.asked_to_stop = False  # by a signal (Ctrl-C), rather than a child dying on its own

    def start(self) -> None:
        """Start every command in its own session (so a terminal Ctrl-C reaches only this process)."""
        for command in self.commands:
            self.children.append(subprocess.Popen(shlex.split(command), start_new_session=True))

    def on_signal(self, signum: int, frame: FrameType | None) -> None:
        """First signal: stop gracefully; a second one: kill."""
        if self.stopping:
            self._signal_all(signal.SIGKILL)
            self.killed = True
        else:
            self.stopping = self.asked_to_stop = True
            print(f"\nStopping {len(self.children)} processes (Ctrl-C again to kill).", flush=True)
            self._signal_all(signal.SIGTERM)

    def _signal_all(self, signum: int) -> None:
        """SIGTERM to each live child (Celery then stops its own pool); SIGKILL to each child's group."""
        for child in self.children:
            if child.poll() is not None:
                continue
            try:
                if signum == signal.SIGKILL:
                    os.killpg(child.pid, signum)  # with Celery's pool and beat processes
                else:
                    child.send_signal(signum)
            except ProcessLookupError:
                pass

    def run(self) -> int:
        """Supervise until every child has exited: 0 when asked to stop, else the first failing child's code."""
        signal.signal(signal.SIGINT, self.on_signal)
        signal.signal(signal.SIGTERM, self.on_signal)
        self.start()
        deadline: float | None = None
        while any(child.poll() is None for child in self.children):
            if not self.stopping and any(child.poll() is not None for child in self.children):
                # One process died on its own: the pair is useless, stop the rest.
                self.stopping = True
                self._signal_all(signal.SIGTERM)
            if self.stopping and deadline is None:
                deadline = time.monotonic() + self.grace
            if deadline is not None and time.monotonic() > deadline and not self.killed:
                self._signal_all(signal.SIGKILL)
                self.killed = True
            time.sleep(POLL_SECONDS)
        if self.asked_to_stop:
            return 0
        codes = [child.returncode for child in self.children]
        return next((abs(code) for code in codes if code not in (0, -signal.SIGTERM)), 0)


def main(argv: Sequence[str]) -> int:
    """Run the commands given as arguments (each one shell-quoted string)."""
    if not argv:
        print(__doc__, file=sys.stderr)
        return 2
    return Supervisor(argv).run()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
