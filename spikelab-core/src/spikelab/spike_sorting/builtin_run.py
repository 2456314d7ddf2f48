"""Built-in ``spikelab_run_sort``: the backend's runner in a watched child process."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from spikelab.plugins import hookimpl
from spikelab.spike_sorting.backend import SorterBackend, SortJob
from spikelab.spike_sorting.child import run_in_child, run_inline
from spikelab.spike_sorting.guards.base import Watchdog


@hookimpl(trylast=True)
def spikelab_run_sort(backend: SorterBackend, job: SortJob, watchdogs: Sequence[Watchdog]) -> Path:
    """Run ``backend.run(job)`` in a child process guarded by ``watchdogs``.

    With ``execution.isolation == "inline"`` it runs in this process and no watchdog can stop it
    (for debugging a backend).
    """
    if job.config.execution.isolation == "inline":
        run_inline(backend.run, job)
    else:
        run_in_child(
            backend.run, job, sorter=backend.name, watchdogs=watchdogs, kill_grace_s=kill_grace_s(backend, job)
        )
    return job.sorter_folder


def kill_grace_s(backend: SorterBackend, job: SortJob) -> float:
    """Seconds between SIGTERM and SIGKILL when a watchdog stops this sort: what the backend
    declares (``SorterBackend.stop_grace_s``, e.g. a Docker container's stop timeout), else 3 s."""
    if backend.stop_grace_s is not None:
        return max(3.0, float(backend.stop_grace_s(job)))
    return 3.0
