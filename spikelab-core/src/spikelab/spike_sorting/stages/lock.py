"""Stage ``lock``: hold the recording's sort lock while its intermediates are written."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

from spikelab.spike_sorting import lock as sort_lock
from spikelab.spike_sorting.stages import RecordingRun, stage


@contextlib.contextmanager
def hold(run: RecordingRun) -> Iterator[Path]:
    """Acquire the lock of ``run.intermediate`` (raising ConcurrentSortError) and hold it."""
    with stage("lock", run.result) as fields:
        path = sort_lock.acquire(run.intermediate)
        fields["lock_path"] = str(path)
    try:
        yield path
    finally:
        sort_lock.release(path)
