"""Stage ``lock``: hold the recording's sort lock while its folders are written.

Only the lock holder writes into the intermediate and results folders: it opens their
manifests, claims the names it will write (refusing a user's file in the way) and writes
``config_used.json``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

from spikelab.spike_sorting import cache
from spikelab.spike_sorting import lock as sort_lock
from spikelab.spike_sorting.folders import RESULT_NAMES, Manifest
from spikelab.spike_sorting.provenance import result_key
from spikelab.spike_sorting.stages import RecordingRun, stage

CONFIG_NAME = "config_used.json"


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


def own_folders(run: RecordingRun, *, created: bool) -> None:
    """Open both folders' manifests, claim what the run writes, write ``config_used.json``.

    Raises
    ------
    FolderConflictError
        When a path the run would write exists but is not the pipeline's own.
    """
    run.manifest = Manifest.open(run.intermediate, created=created)
    run.results_manifest = Manifest.open(run.results, adopt=RESULT_NAMES)
    for name in RESULT_NAMES:
        run.results_manifest.claim(run.results / name, "results_folders")
    cache.atomic_write_json(run.results / CONFIG_NAME, run.config.to_dict())
    run.result.result_key = result_key(run.config, run.backend, run.loaded.source, run.loaded.recording)
