"""Sorter runners for the safeguard tests (imported by the sorter child through PYTHONPATH)."""

from __future__ import annotations

import os
import subprocess
import sys
import time


def spawn_tree_then_hang(job) -> None:
    """Start a grandchild and a double-forked daemon, write their pids, then go silent."""
    print("spawning helpers", flush=True)
    grandchild = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
    pids = [os.getpid(), grandchild.pid]
    read, write = os.pipe()
    if os.fork() == 0:  # first fork
        os.close(read)
        if os.fork() == 0:  # second fork: orphaned, reparented away from this tree
            os.write(write, str(os.getpid()).encode())
            os.close(write)
            time.sleep(600)
            os._exit(0)
        os._exit(0)
    os.close(write)
    daemon_pid = int(os.read(read, 32).decode())
    pids.append(daemon_pid)
    (job.sorter_folder / "pids.txt").write_text(" ".join(map(str, pids)))
    print("helpers started", flush=True)
    time.sleep(600)


def ignore_sigterm_then_hang(job) -> None:
    """A runner deaf to SIGTERM: only SIGKILL stops it."""
    import signal

    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    print("ignoring SIGTERM", flush=True)
    time.sleep(600)


def clean_up_on_sigterm_then_hang(job) -> None:
    """A runner that, like the Docker runners, needs a moment on SIGTERM to stop what it started."""
    import signal

    def handler(signum, frame):
        time.sleep(1.0)  # e.g. container.stop()
        (job.sorter_folder / "cleaned_up").write_text("yes")
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, handler)
    print("started", flush=True)
    time.sleep(600)
