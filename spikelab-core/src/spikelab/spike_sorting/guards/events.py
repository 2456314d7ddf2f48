"""The watchdog audit log: one JSON line per warning or abort in ``<results>/watchdog_events.jsonl``.

Each line holds ``timestamp`` (ISO 8601, UTC), ``watchdog`` (``host_memory``, ``gpu_memory``,
``gpu_thermal``, ``disk``, ``inactivity``, ``io_stall``), ``event`` (``warn``, ``abort``) and the
watchdog's own measurements. Lines are appended with a single ``write`` on a file opened in append
mode, so concurrent writers never interleave inside a line.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import threading
from pathlib import Path
from typing import Any

import structlog

log = structlog.get_logger("spikelab.guards")

EVENTS_FILE_NAME = "watchdog_events.jsonl"


def _jsonable(value: Any) -> Any:
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, float):
        return round(value, 4)
    return value


class EventLog:
    """Appends watchdog events to ``folder/watchdog_events.jsonl`` (thread-safe).

    Parameters
    ----------
    folder : Path or None
        The results folder; ``None`` keeps events in memory only.
    sorter : str, optional
        Added to every line.
    """

    def __init__(self, folder: Path | str | None, *, sorter: str | None = None) -> None:
        self.path = None if folder is None else Path(folder) / EVENTS_FILE_NAME
        self.sorter = sorter
        self.events: list[dict[str, Any]] = []
        self._lock = threading.Lock()

    def append(self, watchdog: str, event: str, **payload: Any) -> dict[str, Any]:
        """Record one event and return it as written."""
        record = {
            "timestamp": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="milliseconds"),
            "watchdog": watchdog,
            "event": event,
        }
        if self.sorter is not None:
            record["sorter"] = self.sorter
        record.update(_jsonable(payload))
        line = json.dumps(record, sort_keys=False) + "\n"
        with self._lock:
            self.events.append(record)
            if self.path is None:
                return record
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
                try:
                    os.write(fd, line.encode("utf-8"))
                finally:
                    os.close(fd)
            except OSError as exc:  # a full disk must not hide the abort itself
                log.warning("watchdog_event_not_written", path=str(self.path), error=str(exc))
        return record


def read_events(folder: Path | str) -> list[dict[str, Any]]:
    """The events recorded in ``folder/watchdog_events.jsonl`` (empty when there are none)."""
    path = Path(folder) / EVENTS_FILE_NAME
    if not path.is_file():
        return []
    events = []
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if line:
            try:
                events.append(json.loads(line))
            except json.JSONDecodeError:  # a line cut by a crash; keep the rest
                continue
    return events


def events_for(context: Any) -> EventLog:
    """The event log of a :class:`~spikelab.spike_sorting.guards.base.WatchContext`.

    Events go to the results folder; without one, beside the sorter's own files.
    """
    folder = context.results_folder if context.results_folder is not None else context.job.sorter_folder
    return EventLog(folder, sorter=context.backend.name)
