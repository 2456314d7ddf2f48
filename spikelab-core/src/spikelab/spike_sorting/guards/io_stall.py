"""I/O stall watchdog: stops a sorter whose process tree has stopped moving bytes and computing.

A hung network share or a failing disk leaves the sorter blocked in the kernel: its I/O byte
counters stop advancing *and* it uses no CPU. A long compute phase also moves no bytes, but it
burns CPU, so it is not a stall. The counters are the kernel's per-process ones (psutil
``io_counters``: bytes read and written, through the page cache or not) summed over the child
and its descendants.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, NamedTuple

import psutil

from spikelab.spike_sorting._exceptions import IOStallError
from spikelab.spike_sorting.guards._polling import PollingWatchdog
from spikelab.spike_sorting.guards.events import EventLog, events_for

if TYPE_CHECKING:
    from spikelab.spike_sorting.guards.base import WatchContext

#: Below this share of one core over the stall window, the tree counts as idle.
IDLE_CPU_FRACTION = 0.05


class TreeActivity(NamedTuple):
    io_bytes: int
    cpu_s: float


def tree_activity(pid: int) -> TreeActivity | None:
    """Bytes moved and CPU seconds used so far by ``pid`` and its descendants (None if gone)."""
    try:
        root = psutil.Process(pid)
        procs = [root, *root.children(recursive=True)]
    except psutil.Error:
        return None
    io_bytes, cpu = 0, 0.0
    for proc in procs:
        try:
            with proc.oneshot():
                counters = proc.io_counters()
                times = proc.cpu_times()
        except (psutil.Error, AttributeError, NotImplementedError):
            continue
        io_bytes += counters.read_bytes + counters.write_bytes
        io_bytes += getattr(counters, "read_chars", 0) + getattr(counters, "write_chars", 0)
        cpu += times.user + times.system
    return TreeActivity(io_bytes, cpu)


class IOStallWatchdog(PollingWatchdog):
    """Stop the sort when no byte moved and the tree stayed idle for ``stall_s`` seconds.

    Parameters
    ----------
    stall_s : float, default: 300.0
        Seconds without I/O progress (while idle) that count as a stall.
    poll_interval_s : float, default: 10.0
        Seconds between samples.
    probe : callable, optional
        ``probe(pid) -> TreeActivity | None``; default :func:`tree_activity`. Tests inject one.
    events : EventLog, optional
        Where warnings and aborts are recorded.
    sorter : str, optional
        The sorter being watched.
    """

    name = "io_stall"

    def __init__(
        self,
        *,
        stall_s: float = 300.0,
        poll_interval_s: float = 10.0,
        probe: Callable[[int], TreeActivity | None] = tree_activity,
        events: EventLog | None = None,
        sorter: str | None = None,
    ) -> None:
        super().__init__(poll_interval_s=poll_interval_s, events=events, sorter=sorter, warn_repeat_s=60.0)
        if stall_s <= 0:
            raise ValueError(f"stall_s must be > 0, got {stall_s}")
        self.stall_s = float(stall_s)
        self.probe = probe
        self._since: float | None = None
        self._io_at_since = 0
        self._cpu_at_since = 0.0

    def check(self) -> IOStallError | None:
        sample = self.probe(self.pid)
        now = time.monotonic()
        if sample is None:  # the child is gone; the runner notices that itself
            return None
        if self._since is None or sample.io_bytes != self._io_at_since:
            self._since, self._io_at_since, self._cpu_at_since = now, sample.io_bytes, sample.cpu_s
            return None
        window = now - self._since
        if sample.cpu_s - self._cpu_at_since > IDLE_CPU_FRACTION * max(window, self.poll_interval_s):
            # computing, not stalled: restart the window from here
            self._since, self._cpu_at_since = now, sample.cpu_s
            return None
        if window < self.stall_s:
            if window >= self.stall_s / 2:
                self.warn(f"no I/O progress for {window:.0f} s", stall_s=round(window, 1))
            return None
        return IOStallError(
            f"The sorter moved no bytes and used no CPU for {window:.0f} s (stall limit "
            f"{self.stall_s:g} s): it is blocked on I/O, typically a hung network share or a failing "
            "disk. Check the storage of the recording and intermediate folders before retrying.",
            sorter=self.sorter,
            stage="sort",
            device=f"process tree of pid {self.pid}",
            stall_s=round(window, 1),
        )


def io_stall_watchdog(context: WatchContext) -> IOStallWatchdog | None:
    """Factory: the I/O stall watchdog, unless ``io_stall_watchdog`` is off or the sort runs in Docker."""
    execution = context.config.execution
    if not execution.io_stall_watchdog:
        return None
    if context.config.sorter.use_docker:
        # the work happens in the container, outside the child's process tree: a client idly
        # waiting for a silent container would look stalled (the inactivity watchdog covers it)
        return None
    return IOStallWatchdog(
        stall_s=execution.io_stall_s,
        poll_interval_s=execution.io_stall_poll_interval_s,
        events=events_for(context),
        sorter=context.backend.name,
    )
