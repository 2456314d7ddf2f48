"""Per-recording sort lock: one live sort per intermediate folder.

The lock is a file, ``<intermediate folder>/.spikelab_sort.lock``, created with
``O_CREAT | O_EXCL`` and holding JSON ``{pid, hostname, started_at, process_started_at}``.
A second sort of the same recording finds it and raises
:class:`~spikelab.spike_sorting._exceptions.ConcurrentSortError`. A lock whose holder is gone
(same host, and no live process with that pid *and* that process start time, so a recycled pid
does not count) is stale: it is reclaimed under a short-lived ``.reclaim`` guard, so two
processes reclaiming at once cannot both win.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil
import structlog

from spikelab.spike_sorting._exceptions import ConcurrentSortError

log = structlog.get_logger("spikelab.lock")

LOCK_NAME = ".spikelab_sort.lock"
_RECLAIM_GUARD_STALE_S = 30.0
_START_TIME_SKEW_S = 2.0


def _own_info() -> dict[str, Any]:
    pid = os.getpid()
    return {
        "pid": pid,
        "hostname": socket.gethostname(),
        "started_at": time.time(),
        "process_started_at": psutil.Process(pid).create_time(),
    }


def read_lock(path: Path) -> dict[str, Any] | None:
    """The holder's JSON, or None when the file is missing or unreadable."""
    try:
        return json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return None


def holder_alive(info: dict[str, Any]) -> bool:
    """Whether the process that wrote ``info`` may still be running.

    A holder on another host cannot be checked and counts as alive.
    """
    if info.get("hostname") != socket.gethostname():
        return True
    pid = info.get("pid")
    if not isinstance(pid, int):
        return False
    try:
        process = psutil.Process(pid)
        if process.status() == psutil.STATUS_ZOMBIE:  # exited; its parent died before reaping it
            return False
        created = process.create_time()
    except (psutil.NoSuchProcess, psutil.ZombieProcess):
        return False
    except psutil.Error:
        return True  # exists but cannot be inspected: be conservative
    expected = info.get("process_started_at")
    if expected is None:
        return True
    return abs(created - float(expected)) <= _START_TIME_SKEW_S


def _concurrent(path: Path, info: dict[str, Any] | None) -> ConcurrentSortError:
    info = info or {}
    host = info.get("hostname", "?")
    if info:
        started = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(info.get("started_at", 0)))
        holder = f"process {info.get('pid')} on {host}, started {started}"
    else:
        holder = "a process whose lock file cannot be read"
    return ConcurrentSortError(
        f"Another sort of this recording is running ({holder}); lock file {path}. Wait for it to "
        "finish; if that sort crashed on another machine, delete the lock file.",
        stage="lock",
        lock_path=str(path),
        holder_pid=info.get("pid"),
        holder_hostname=info.get("hostname"),
        started_at=info.get("started_at"),
    )


def _try_create(path: Path) -> bool:
    try:
        fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
    except FileExistsError:
        return False
    with os.fdopen(fd, "w") as handle:
        json.dump(_own_info(), handle)
        handle.flush()
        os.fsync(handle.fileno())
    return True


def _reclaim(path: Path, stale: dict[str, Any] | None) -> None:
    """Delete the stale lock ``path`` if it still holds ``stale`` (under a reclaim guard)."""
    guard = path.with_name(path.name + ".reclaim")
    try:
        fd = os.open(guard, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
    except FileExistsError:
        with contextlib.suppress(OSError):
            if time.time() - guard.stat().st_mtime > _RECLAIM_GUARD_STALE_S:
                guard.unlink()  # left by a process killed mid-reclaim
        time.sleep(0.05)
        return
    os.close(fd)
    try:
        if read_lock(path) == stale:
            path.unlink(missing_ok=True)
            log.info("sort_lock_reclaimed", lock_path=str(path), stale_pid=(stale or {}).get("pid"))
    finally:
        guard.unlink(missing_ok=True)


def acquire(folder: str | Path, *, attempts: int = 20) -> Path:
    """Take the sort lock of ``folder``; returns the lock path.

    Raises
    ------
    ConcurrentSortError
        When a live process (or one on another host) holds it.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / LOCK_NAME
    for _ in range(attempts):
        if _try_create(path):
            return path
        info = read_lock(path)
        if info is None:
            # Being written right now, or corrupt: give a writer a moment before judging.
            time.sleep(0.1)
            info = read_lock(path)
            if info is None and path.exists():
                age = time.time() - path.stat().st_mtime
                if age < 5.0:
                    raise _concurrent(path, None)
        if info is not None and holder_alive(info):
            raise _concurrent(path, info)
        _reclaim(path, info)
    raise _concurrent(path, read_lock(path))


def release(path: Path) -> None:
    """Remove the lock if this process holds it."""
    info = read_lock(path)
    if info is not None and info.get("pid") == os.getpid() and info.get("hostname") == socket.gethostname():
        path.unlink(missing_ok=True)


@contextlib.contextmanager
def sort_lock(folder: str | Path) -> Iterator[Path]:
    """Hold the sort lock of ``folder`` for the duration of the block."""
    path = acquire(folder)
    try:
        yield path
    finally:
        release(path)
