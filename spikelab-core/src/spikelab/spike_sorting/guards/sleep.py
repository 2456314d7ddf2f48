"""Keep a workstation awake while a sort runs.

Linux: a ``systemd-inhibit --what=sleep:idle ... sleep infinity`` child holds a block inhibitor
for as long as it lives. macOS: ``caffeinate -dims -w <pid>``. Windows:
``SetThreadExecutionState``. Anywhere else, or when the tool cannot take the lock (no system
bus, as in containers), nothing happens. It never raises.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator

import structlog

log = structlog.get_logger("spikelab.guards")

_WHY = "SpikeLab spike sorting in progress"


def _inhibitor_command() -> list[str] | None:
    if sys.platform.startswith("linux") and shutil.which("systemd-inhibit"):
        return [
            "systemd-inhibit",
            "--what=sleep:idle",
            "--who=spikelab",
            f"--why={_WHY}",
            "--mode=block",
            "sleep",
            "infinity",
        ]
    if sys.platform == "darwin" and shutil.which("caffeinate"):
        return ["caffeinate", "-dims", "-w", str(os.getpid())]
    return None


@contextlib.contextmanager
def _windows_inhibit() -> Iterator[bool]:
    import ctypes

    es_continuous, es_system_required, es_awaymode_required = 0x80000000, 0x00000001, 0x00000040
    kernel = ctypes.windll.kernel32  # type: ignore[attr-defined]
    ok = bool(kernel.SetThreadExecutionState(es_continuous | es_system_required | es_awaymode_required))
    try:
        yield ok
    finally:
        kernel.SetThreadExecutionState(es_continuous)


@contextlib.contextmanager
def prevent_system_sleep(enabled: bool = True, *, settle_s: float = 0.3) -> Iterator[bool]:
    """Block system sleep for the duration of the ``with`` block.

    Parameters
    ----------
    enabled : bool, default: True
        ``ExecutionConfig.prevent_system_sleep``; False makes this a no-op.
    settle_s : float, default: 0.3
        How long to wait for the inhibitor to fail before counting it as active.

    Yields
    ------
    bool
        Whether sleep is actually blocked.
    """
    if not enabled:
        yield False
        return
    if sys.platform == "win32":
        try:
            with _windows_inhibit() as ok:
                yield ok
        except OSError:
            yield False
        return
    command = _inhibitor_command()
    process = None
    if command is not None:
        try:
            process = subprocess.Popen(
                command, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
            )
            deadline = time.monotonic() + settle_s
            while process.poll() is None and time.monotonic() < deadline:
                time.sleep(0.02)
            if process.poll() is not None:
                reason = process.stderr.read().decode(errors="replace").strip() if process.stderr else ""
                log.debug("sleep_blocker_unavailable", tool=command[0], reason=reason)
                process = None
        except OSError as exc:
            log.debug("sleep_blocker_unavailable", tool=command[0], reason=str(exc))
            process = None
    if process is not None:
        log.debug("sleep_blocked", tool=command[0], pid=process.pid)
    try:
        yield process is not None
    finally:
        if process is not None:
            process.terminate()
            try:
                process.wait(3)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(3)
            if process.stderr:
                process.stderr.close()
