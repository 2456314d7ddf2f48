"""Host RAM watchdog: stops the sort when the machine's memory use crosses the abort percentage.

The percentage is psutil's ``virtual_memory().percent`` (memory not available to new
allocations), the same figure ``free`` and system monitors show. Warnings above ``warn_pct``
include the resident memory of the sorter's process tree, so a report tells whether the sorter
or something else filled the machine.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import psutil

from spikelab.spike_sorting._exceptions import HostMemoryWatchdogError
from spikelab.spike_sorting.guards._polling import PollingWatchdog
from spikelab.spike_sorting.guards.events import EventLog, events_for

if TYPE_CHECKING:
    from spikelab.spike_sorting.guards.base import WatchContext


def _system_percent() -> float:
    return float(psutil.virtual_memory().percent)


def tree_rss_gb(pid: int | None) -> float | None:
    """Resident memory (GB) of ``pid`` and its descendants, or None when it is gone."""
    if pid is None:
        return None
    try:
        root = psutil.Process(pid)
        procs = [root, *root.children(recursive=True)]
    except psutil.Error:
        return None
    total = 0
    for proc in procs:
        try:
            total += proc.memory_info().rss
        except psutil.Error:
            continue
    return total / 2**30


def top_processes(limit: int = 5, ours: set[int] = frozenset()) -> list[dict[str, object]]:
    """The ``limit`` processes holding the most resident memory, biggest first."""
    rows = []
    for proc in psutil.process_iter(["pid", "name", "memory_info"]):
        info = proc.info
        if info.get("memory_info") is None:
            continue
        rows.append((info["memory_info"].rss, info["pid"], info.get("name") or "?"))
    rows.sort(reverse=True)
    return [
        {"pid": pid, "name": name, "rss_gb": round(rss / 2**30, 3), "sorter": pid in ours}
        for rss, pid, name in rows[:limit]
    ]


def tree_pids(pid: int | None) -> set[int]:
    """``pid`` and its descendants (empty when it is gone)."""
    if pid is None:
        return set()
    try:
        root = psutil.Process(pid)
        return {pid, *(child.pid for child in root.children(recursive=True))}
    except psutil.Error:
        return set()


class HostMemoryWatchdog(PollingWatchdog):
    """Stop the sort when host RAM use reaches ``abort_pct``.

    Parameters
    ----------
    warn_pct : float, default: 85.0
        Warn (rate-limited) at or above this percentage.
    abort_pct : float, default: 92.0
        Stop the sort at or above this percentage.
    poll_interval_s : float, default: 0.5
        Seconds between samples.
    probe : callable, optional
        Returns the current percentage (default: psutil); tests inject their own.
    events : EventLog, optional
        Where warnings and aborts are recorded.
    sorter : str, optional
        The sorter being watched.
    """

    name = "host_memory"

    def __init__(
        self,
        *,
        warn_pct: float = 85.0,
        abort_pct: float = 92.0,
        poll_interval_s: float = 0.5,
        probe: Callable[[], float] = _system_percent,
        events: EventLog | None = None,
        sorter: str | None = None,
    ) -> None:
        super().__init__(poll_interval_s=poll_interval_s, events=events, sorter=sorter)
        if not 0 < warn_pct <= abort_pct <= 100:
            raise ValueError(
                f"host RAM watchdog needs 0 < warn_pct <= abort_pct <= 100, got {warn_pct}, {abort_pct}"
            )
        self.warn_pct = float(warn_pct)
        self.abort_pct = float(abort_pct)
        self.probe = probe
        self.peak_pct = 0.0

    def check(self) -> HostMemoryWatchdogError | None:
        percent = self.probe()
        self.peak_pct = max(self.peak_pct, percent)
        if percent >= self.abort_pct:
            rss = tree_rss_gb(self.pid)
            whose = (
                f"the sorter's processes held {rss:.2f} GB" if rss is not None else "the sorter had exited"
            )
            top = top_processes(ours=tree_pids(self.pid))
            self.trip_details = {"sorter_rss_gb": rss, "top_processes": top}
            biggest = next((row for row in top if not row["sorter"]), None)
            if biggest is not None and (rss is None or biggest["rss_gb"] > rss):
                whose += (
                    f"; the biggest other process is {biggest['name']} "
                    f"(pid {biggest['pid']}, {biggest['rss_gb']:.2f} GB)"
                )
            return HostMemoryWatchdogError(
                f"Host RAM use reached {percent:.1f}% (abort at {self.abort_pct:g}%; {whose}); the sort "
                "was stopped before the machine started swapping or the kernel killed it. Lower n_jobs "
                "or total_memory, sort a shorter window, close other programs, or raise host_ram_abort_pct.",
                sorter=self.sorter,
                stage="sort",
                percent_at_trip=round(percent, 2),
                abort_pct=self.abort_pct,
            )
        if percent >= self.warn_pct:
            self.warn(
                f"host RAM use {percent:.1f}% is above {self.warn_pct:g}%",
                percent=round(percent, 2),
                warn_pct=self.warn_pct,
                sorter_rss_gb=tree_rss_gb(self.pid),
            )
        return None


def host_memory_watchdog(context: WatchContext) -> HostMemoryWatchdog | None:
    """Factory: the host RAM watchdog, unless ``host_ram_watchdog`` is off."""
    execution = context.config.execution
    if not execution.host_ram_watchdog:
        return None
    return HostMemoryWatchdog(
        warn_pct=execution.host_ram_warn_pct,
        abort_pct=execution.host_ram_abort_pct,
        poll_interval_s=execution.host_ram_poll_interval_s,
        events=events_for(context),
        sorter=context.backend.name,
    )
