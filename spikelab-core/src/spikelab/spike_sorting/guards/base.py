"""The watchdog contract: what the sort runner starts beside a sorter child process.

A plugin contributes watchdogs through ``spikelab_register_watchdogs`` by registering a
*factory*: ``factory(context: WatchContext) -> Watchdog | None`` (None when it does not apply,
e.g. the GPU watchdog without NVML or when disabled in the config). The runner calls
``start(pid)`` once the child runs, polls ``tripped()`` while it waits, and calls ``stop()`` in
every case. A tripped watchdog makes the runner kill the child's whole process tree and raise
the watchdog's classified exception.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Protocol, runtime_checkable

import attrs

if TYPE_CHECKING:
    from spikelab.spike_sorting._exceptions import SpikeSortingClassifiedError
    from spikelab.spike_sorting.backend import SorterBackend, SortJob
    from spikelab.spike_sorting.config import SortingPipelineConfig


@attrs.frozen(kw_only=True)
class WatchContext:
    """What a watchdog factory may look at to decide whether and how to watch a sort.

    Parameters
    ----------
    config : SortingPipelineConfig
        The pipeline configuration (thresholds live in ``config.execution``).
    backend : SorterBackend
        The backend being run.
    job : SortJob
        The sort job (folders, log path, parameters).
    recording_duration_s : float
        Length of the recording being sorted (scales the inactivity tolerance).
    results_folder : Path, optional
        Where reports such as ``disk_exhaustion_report.json`` go.
    """

    config: SortingPipelineConfig
    backend: SorterBackend
    job: SortJob
    recording_duration_s: float
    results_folder: Path | None = None


@runtime_checkable
class Watchdog(Protocol):
    """A live guard running beside the sorter child process."""

    name: str

    def start(self, pid: int) -> None:
        """Begin watching; ``pid`` is the sorter child process."""

    def tripped(self) -> SpikeSortingClassifiedError | None:
        """The classified error if the watchdog decided to stop the sort, else None."""

    def stop(self) -> None:
        """Stop watching and release resources (idempotent)."""


WatchdogFactory = Callable[[WatchContext], "Watchdog | None"]
