"""The hooks SpikeLab calls, and the only place they are declared.

A plugin implements any subset of these with :data:`spikelab.hookimpl`. Hooks only ever gain
arguments; none is renamed or removed (pluggy lets an implementation accept fewer arguments than
the spec, so old plugins keep working).

Call semantics
--------------
* ``spikelab_register_*`` hooks are *collections*: every plugin contributes through the
  ``register`` callable it is handed and returns nothing.
* ``spikelab_classify_failure`` and ``spikelab_read_recording`` are *first result*: the first
  plugin that recognises the input decides.
* ``spikelab_run_sort`` is first result too, and the place for ``wrapper=True`` implementations
  that time, lock or guard the sort.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:  # heavy or circular imports only for type checkers
    from spikeinterface.core import BaseRecording

    from spikelab.cli.commands import Command
    from spikelab.spike_sorting._exceptions import SpikeSortingClassifiedError
    from spikelab.spike_sorting.backend import SorterBackend, SortJob
    from spikelab.spike_sorting.config import RecordingConfig
    from spikelab.spike_sorting.guards.base import Watchdog, WatchdogFactory
    from spikelab.spikedata.metrics import CurationMetric

PROJECT_NAME = "spikelab"
hookspec = pluggy.HookspecMarker(PROJECT_NAME)


@hookspec
def spikelab_register_sorters(register: Callable[[SorterBackend], None]) -> None:
    """Contribute sorter backends.

    Parameters
    ----------
    register : callable
        Call it once per :class:`~spikelab.spike_sorting.backend.SorterBackend`. The backend
        carries its runner, default parameters, presets, OOM batch knob, prerequisites check and
        failure classifier.
    """


@hookspec(firstresult=True)
def spikelab_classify_failure(
    sorter: str, output_folder: Path, exc: BaseException, log_text: str
) -> SpikeSortingClassifiedError | None:
    """Turn a failure into a classified exception, or return None when it is not recognised.

    Parameters
    ----------
    sorter : str
        Name of the backend that was running (``"kilosort4"``, ...).
    output_folder : Path
        The sorter's output folder, where its log lives.
    exc : BaseException
        The exception raised by the sort (its ``__cause__``/``__context__`` chain is evidence too).
    log_text : str
        The sorter's log, already read (may be empty).
    """


@hookspec
def spikelab_register_watchdogs(register: Callable[[WatchdogFactory], None]) -> None:
    """Contribute live watchdogs that run beside each sort (all registered ones are used)."""


@hookspec
def spikelab_register_metrics(register: Callable[[CurationMetric], None]) -> None:
    """Contribute curation metrics; ``SpikeData.curate`` accepts each by its parameter name."""


@hookspec(firstresult=True)
def spikelab_read_recording(source: Any, config: RecordingConfig) -> BaseRecording | None:
    """Open ``source`` (a path or an object) as a SpikeInterface recording, or return None."""


@hookspec(firstresult=True)
def spikelab_list_streams(source: Path) -> list[str] | None:
    """List the stream ids of a multi-stream file, or return None when the format is not yours."""


@hookspec(firstresult=True)
def spikelab_run_sort(
    backend: SorterBackend, job: SortJob, watchdogs: Sequence[Watchdog]
) -> Path | None:
    """Run one sort (wrappers may time, lock or guard it); returns the sorter output folder.

    Parameters
    ----------
    backend : SorterBackend
        The backend to run.
    job : SortJob
        Folders, log and parameters of this sort.
    watchdogs : sequence of Watchdog
        Live guards to start beside the sorter; a tripped one stops it with its error.
    """


@hookspec
def spikelab_register_commands(register: Callable[[Command], None]) -> None:
    """Contribute ``spikelab`` command-line sub-commands."""
