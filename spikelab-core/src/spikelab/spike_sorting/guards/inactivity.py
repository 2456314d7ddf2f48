"""Sorter log inactivity watchdog: stops a sorter whose log has been silent for too long.

Progress is judged by the log growing (size or modification time of the child's log and of the
sorter's own log file), not by CPU or GPU use: a hung sorter can spin. The tolerance grows with
the recording: ``base_s + per_min_s * minutes``, capped at ``max_s`` (defaults: 600 s + 30 s per
minute, at most 2 h; a 60-minute recording gets 2400 s).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from spikelab.spike_sorting._exceptions import SorterTimeoutError
from spikelab.spike_sorting.guards._polling import PollingWatchdog
from spikelab.spike_sorting.guards.events import EventLog, events_for

if TYPE_CHECKING:
    from spikelab.spike_sorting.guards.base import WatchContext


def inactivity_tolerance_s(duration_s: float, *, base_s: float, per_min_s: float, max_s: float) -> float:
    """Seconds of log silence tolerated for a recording lasting ``duration_s``.

    Examples
    --------
    >>> inactivity_tolerance_s(3600, base_s=600, per_min_s=30, max_s=7200)
    2400.0
    """
    return float(min(max_s, base_s + per_min_s * max(0.0, duration_s) / 60.0))


def _stamp(path: Path) -> tuple[float, int] | None:
    try:
        stat = path.stat()
    except OSError:
        return None
    return stat.st_mtime, stat.st_size


class LogInactivityWatchdog(PollingWatchdog):
    """Stop the sort when none of ``log_paths`` has changed for ``tolerance_s`` seconds.

    Parameters
    ----------
    log_paths : sequence of Path
        Logs whose growth counts as progress (missing ones are ignored until they appear).
    tolerance_s : float
        Silence tolerated, in seconds.
    poll_interval_s : float, optional
        Default: a fifth of the tolerance, between 0.2 and 5 s.
    events : EventLog, optional
        Where the abort is recorded.
    sorter : str, optional
        The sorter being watched.
    """

    name = "inactivity"

    def __init__(
        self,
        log_paths: Sequence[Path | str],
        *,
        tolerance_s: float,
        poll_interval_s: float | None = None,
        events: EventLog | None = None,
        sorter: str | None = None,
    ) -> None:
        if tolerance_s <= 0:
            raise ValueError(f"inactivity tolerance must be > 0 s, got {tolerance_s}")
        if poll_interval_s is None:
            poll_interval_s = min(5.0, max(0.2, tolerance_s / 5.0))
        super().__init__(poll_interval_s=poll_interval_s, events=events, sorter=sorter)
        self.log_paths = [Path(p) for p in log_paths]
        self.tolerance_s = float(tolerance_s)
        self._stamps: dict[Path, tuple[float, int] | None] = {}
        self._last_progress = time.monotonic()

    def on_start(self) -> None:
        self._stamps = {path: _stamp(path) for path in self.log_paths}
        self._last_progress = time.monotonic()

    def check(self) -> SorterTimeoutError | None:
        now = time.monotonic()
        for path in self.log_paths:
            stamp = _stamp(path)
            if stamp != self._stamps.get(path):
                self._stamps[path] = stamp
                self._last_progress = now
        silent = now - self._last_progress
        if silent < self.tolerance_s:
            return None
        existing = [p for p in self.log_paths if self._stamps.get(p) is not None]
        last_line = _last_line(existing[0]) if existing else None
        return SorterTimeoutError(
            f"The sorter's log has been silent for {silent:.0f} s (tolerance {self.tolerance_s:.0f} s "
            "for this recording length); the sorter looks hung and was stopped. If a stage is "
            "legitimately this slow, raise sorter_inactivity_base_s / sorter_inactivity_max_s; "
            "otherwise look for a stuck subprocess or a hung file system.",
            sorter=self.sorter,
            stage="sort",
            log_path=str(existing[0]) if existing else None,
            matched_line=last_line,
            inactivity_s=round(silent, 1),
        )


def _last_line(path: Path, n_bytes: int = 2000) -> str | None:
    try:
        with open(path, "rb") as handle:
            handle.seek(0, 2)
            handle.seek(max(0, handle.tell() - n_bytes))
            lines = handle.read().decode("utf-8", errors="replace").strip().splitlines()
    except OSError:
        return None
    return lines[-1].strip() if lines else None


def inactivity_watchdog(context: WatchContext) -> LogInactivityWatchdog | None:
    """Factory: the log inactivity watchdog, unless ``sorter_inactivity_timeout`` is off."""
    execution = context.config.execution
    if not execution.sorter_inactivity_timeout:
        return None
    tolerance = inactivity_tolerance_s(
        context.recording_duration_s,
        base_s=execution.sorter_inactivity_base_s,
        per_min_s=execution.sorter_inactivity_per_min_s,
        max_s=execution.sorter_inactivity_max_s,
    )
    paths = [context.job.log_path]
    own_log = context.job.sorter_folder / context.backend.log_name
    if own_log != context.job.log_path:
        paths.append(own_log)
    return LogInactivityWatchdog(
        paths, tolerance_s=tolerance, events=events_for(context), sorter=context.backend.name
    )
