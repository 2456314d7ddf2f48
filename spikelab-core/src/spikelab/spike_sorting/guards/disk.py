"""Free-disk watchdog: stops the sort before the volume fills, and explains where the space went.

It watches the volumes of the sorter folder (intermediate files) and of the results folder. On
an abort it writes ``disk_exhaustion_report.json`` next to the results: the free space at the
trip, how much the sort consumed, the biggest files and what to do about it.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from spikelab.atomic import write_json
from spikelab.spike_sorting._exceptions import DiskExhaustionError
from spikelab.spike_sorting.guards._disk import DiskProbe, free_bytes, largest_files, volume_id
from spikelab.spike_sorting.guards._polling import PollingWatchdog
from spikelab.spike_sorting.guards.events import EventLog, events_for

if TYPE_CHECKING:
    from spikelab.spike_sorting.guards.base import WatchContext

REPORT_NAME = "disk_exhaustion_report.json"

SUGGESTED_ACTIONS = (
    "Free space on this volume (the biggest files are listed in top_consumers).",
    "Point intermediate_folders at a volume with more free space; intermediates need about "
    "2-3x the recording's binary size.",
    "Set delete_inter=True so finished recordings' intermediates are removed during a batch.",
    "Sort a shorter window (first_n_mins / start_time_s / end_time_s).",
    "Lower disk_abort_free_gb only if you are sure the remaining space suffices.",
)


def write_json_atomic(path: Path, data: dict[str, Any]) -> None:
    """Write ``data`` to ``path`` through a temporary name and a rename."""
    write_json(path, data, sort_keys=False)


class DiskWatchdog(PollingWatchdog):
    """Stop the sort when free space on a watched folder's volume falls to ``abort_free_gb``.

    Parameters
    ----------
    folders : sequence of Path
        Folders whose volumes are watched (one probe per distinct volume).
    report_folder : Path, optional
        Where ``disk_exhaustion_report.json`` is written (default: the first folder).
    warn_free_gb, abort_free_gb : float
        Thresholds on free space, in GB (10**9 bytes).
    poll_interval_s : float, default: 5.0
        Seconds between samples.
    probe : callable, optional
        ``probe(path) -> (total, used, free)``; default :func:`shutil.disk_usage`.
    events : EventLog, optional
        Where warnings and aborts are recorded.
    sorter : str, optional
        The sorter being watched.
    """

    name = "disk"

    def __init__(
        self,
        folders: Sequence[Path | str],
        *,
        report_folder: Path | str | None = None,
        warn_free_gb: float = 5.0,
        abort_free_gb: float = 1.0,
        poll_interval_s: float = 5.0,
        probe: DiskProbe | None = None,
        events: EventLog | None = None,
        sorter: str | None = None,
    ) -> None:
        super().__init__(poll_interval_s=poll_interval_s, events=events, sorter=sorter)
        if abort_free_gb > warn_free_gb:
            raise ValueError(f"abort_free_gb ({abort_free_gb}) must not exceed warn_free_gb ({warn_free_gb})")
        self.folders = _one_per_volume([Path(f) for f in folders], probe)
        self.report_folder = Path(report_folder) if report_folder is not None else self.folders[0]
        self.warn_free_gb = float(warn_free_gb)
        self.abort_free_gb = float(abort_free_gb)
        self.probe = probe
        self.report_path: Path | None = None
        self._free_at_start: dict[Path, int] = {}

    def on_start(self) -> None:
        for folder in self.folders:
            try:
                self._free_at_start[folder] = free_bytes(folder, self.probe)
            except OSError:
                continue

    def check(self) -> DiskExhaustionError | None:
        for folder in self.folders:
            free_gb = free_bytes(folder, self.probe) / 1e9
            if free_gb <= self.abort_free_gb:
                return self._abort(folder, free_gb)
            if free_gb <= self.warn_free_gb:
                self.warn(
                    f"only {free_gb:.2f} GB free on the volume of {folder}",
                    folder=str(folder),
                    free_gb=round(free_gb, 3),
                    warn_free_gb=self.warn_free_gb,
                )
        return None

    def _abort(self, folder: Path, free_gb: float) -> DiskExhaustionError:
        start = self._free_at_start.get(folder)
        consumed = None if start is None else round(max(0, start - free_gb * 1e9) / 1e9, 3)
        report = {
            "folder": str(folder),
            "free_gb_at_trip": round(free_gb, 3),
            "abort_threshold_gb": self.abort_free_gb,
            "free_gb_at_start": None if start is None else round(start / 1e9, 3),
            "gb_consumed_during_sort": consumed,
            "top_consumers": largest_files(self.folders),
            "suggested_actions": list(SUGGESTED_ACTIONS),
        }
        path = self.report_folder / REPORT_NAME
        try:
            write_json_atomic(path, report)
            self.report_path = path
        except OSError:  # the disk may be too full even for the report
            path = None
        return DiskExhaustionError(
            f"Only {free_gb:.2f} GB left on the volume of {folder} (abort at {self.abort_free_gb:g} GB); "
            f"the sort was stopped before the disk filled. "
            + (f"See {path} for the biggest files and what to do." if path else "Free space and retry."),
            sorter=self.sorter,
            stage="sort",
            folder=str(folder),
            free_gb_at_trip=round(free_gb, 3),
            abort_threshold_gb=self.abort_free_gb,
            report_path=None if path is None else str(path),
        )


def _one_per_volume(folders: list[Path], probe: DiskProbe | None) -> list[Path]:
    if probe is not None:  # an injected probe decides; keep every folder
        return list(dict.fromkeys(folders))
    kept: dict[int, Path] = {}
    for folder in folders:
        try:
            kept.setdefault(volume_id(folder), folder)
        except OSError:
            continue
    return list(kept.values()) or folders


def disk_watchdog(context: WatchContext) -> DiskWatchdog | None:
    """Factory: the free-disk watchdog, unless ``disk_watchdog`` is off."""
    execution = context.config.execution
    if not execution.disk_watchdog:
        return None
    folders = [context.job.sorter_folder]
    if context.results_folder is not None:
        folders.append(context.results_folder)
    return DiskWatchdog(
        folders,
        report_folder=context.results_folder or context.job.sorter_folder,
        warn_free_gb=execution.disk_warn_free_gb,
        abort_free_gb=execution.disk_abort_free_gb,
        poll_interval_s=execution.disk_poll_interval_s,
        events=events_for(context),
        sorter=context.backend.name,
    )
