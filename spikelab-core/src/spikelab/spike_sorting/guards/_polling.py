"""A watchdog that samples something in a daemon thread and trips once a check fails.

Subclasses implement :meth:`PollingWatchdog.check`, returning the classified error that should
stop the sort (or None), and may call :meth:`PollingWatchdog.warn` for rate-limited warnings.
The thread's own CPU time is accumulated in :attr:`PollingWatchdog.cpu_time_s`, so the guards'
overhead can be measured.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import structlog

from spikelab.spike_sorting.guards.events import EventLog

if TYPE_CHECKING:
    from spikelab.spike_sorting._exceptions import SpikeSortingClassifiedError

log = structlog.get_logger("spikelab.guards")


class PollingWatchdog:
    """Base class of the built-in watchdogs.

    Parameters
    ----------
    poll_interval_s : float
        Seconds between two checks (the first check runs as soon as the watchdog starts).
    events : EventLog, optional
        Where warnings and aborts are recorded.
    warn_repeat_s : float, default: 30.0
        A warning is logged at most once per this many seconds.
    sorter : str, optional
        The sorter being watched (evidence on the error).
    """

    name = "watchdog"

    def __init__(
        self,
        *,
        poll_interval_s: float,
        events: EventLog | None = None,
        warn_repeat_s: float = 30.0,
        sorter: str | None = None,
    ) -> None:
        if poll_interval_s <= 0:
            raise ValueError(f"{self.name}: poll_interval_s must be > 0, got {poll_interval_s}")
        self.poll_interval_s = float(poll_interval_s)
        self.events = events if events is not None else EventLog(None, sorter=sorter)
        self.warn_repeat_s = warn_repeat_s
        self.sorter = sorter
        self.pid: int | None = None
        self.cpu_time_s = 0.0
        self.n_checks = 0
        self.tripped_at: float | None = None
        #: Extra measurements a subclass sets before tripping; recorded with the abort event.
        self.trip_details: dict[str, Any] = {}
        self._error: SpikeSortingClassifiedError | None = None
        self._last_warn: dict[str, float] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # -- the Watchdog protocol -------------------------------------------------------------
    def start(self, pid: int) -> None:
        """Begin watching process ``pid`` in a daemon thread."""
        if self._thread is not None:
            raise RuntimeError(f"{self.name} watchdog already started")
        self.pid = pid
        self.on_start()
        self._thread = threading.Thread(target=self._loop, name=f"spikelab-{self.name}", daemon=True)
        self._thread.start()

    def tripped(self) -> SpikeSortingClassifiedError | None:
        return self._error

    def stop(self) -> None:
        self._stop.set()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=max(2.0, 2 * self.poll_interval_s))

    # -- for subclasses --------------------------------------------------------------------
    def on_start(self) -> None:
        """Take a baseline before the first check (runs in the caller's thread)."""

    def check(self) -> SpikeSortingClassifiedError | None:
        """Sample once; return the error that stops the sort, or None."""
        raise NotImplementedError

    def warn(self, message: str, *, source: str | None = None, **payload: Any) -> None:
        """Log and record a warning, at most once per ``warn_repeat_s`` (per ``source``)."""
        source = source or self.name
        now = time.monotonic()
        if now - self._last_warn.get(source, -float("inf")) < self.warn_repeat_s:
            return
        self._last_warn[source] = now
        log.warning(f"{source}_watchdog_warning", message=message, sorter=self.sorter, **payload)
        self.events.append(source, "warn", message=message, pid=self.pid, **payload)

    def source_for(self, error: SpikeSortingClassifiedError) -> str:
        """The watchdog id recorded with an abort (one class may watch several things)."""
        return self.name

    def _trip(self, error: SpikeSortingClassifiedError) -> None:
        source = self.source_for(error)
        payload = {k: (str(v) if isinstance(v, Path) else v) for k, v in error.evidence().items()}
        payload = {k: v for k, v in payload.items() if v is not None and k != "sorter"}
        payload.update(self.trip_details)
        self.events.append(
            source, "abort", message=error.message, status=error.status, pid=self.pid, **payload
        )
        log.error(f"{source}_watchdog_abort", message=error.message, sorter=self.sorter, **payload)
        self.tripped_at = time.monotonic()
        self._error = error

    # -- the thread ------------------------------------------------------------------------
    def _loop(self) -> None:
        while not self._stop.is_set():
            started = time.thread_time()
            try:
                error = self.check()
            except Exception as exc:  # a broken probe never stops a sort
                log.debug(f"{self.name}_watchdog_probe_failed", error=f"{type(exc).__name__}: {exc}")
                error = None
            self.n_checks += 1
            if error is not None:
                self._trip(error)
                self.cpu_time_s += time.thread_time() - started
                return
            self.cpu_time_s += time.thread_time() - started
            self._stop.wait(self.poll_interval_s)
