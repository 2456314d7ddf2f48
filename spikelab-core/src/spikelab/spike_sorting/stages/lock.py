"""Stage ``lock``: hold the recording's sort lock while its folders are written.

Only the lock holder writes into the intermediate and results folders: it opens their
manifests, claims the names it will write (refusing a user's file in the way) and writes
``config_used.json``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import structlog

from spikelab.spike_sorting import cache
from spikelab.spike_sorting import lock as sort_lock
from spikelab.spike_sorting.folders import RESULT_NAMES, Manifest
from spikelab.spike_sorting.interrupts import as_disk_error
from spikelab.spike_sorting.provenance import result_key
from spikelab.spike_sorting.stages import RecordingRun, stage

log = structlog.get_logger("spikelab.pipeline")

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
    """Open both folders' manifests, claim what the run writes, remove temporary files a killed
    run left, write ``config_used.json``.

    Raises
    ------
    FolderConflictError
        When a path the run would write exists but is not the pipeline's own.
    DiskExhaustionError
        When the disk is full.
    """
    try:
        run.manifest = Manifest.open(run.intermediate, created=created)
        results_manifest = Manifest.open(run.results, adopt=RESULT_NAMES)
        for name in RESULT_NAMES:
            results_manifest.claim(run.results / name, "results_folders")
        run.results_manifest = results_manifest  # from now on the reports may be written
        removed = remove_stale_temporaries(run.manifest) + remove_stale_temporaries(run.results_manifest)
        if removed:
            log.info("stale_temporaries_removed", recording=run.name, paths=[str(p) for p in removed])
        cache.atomic_write_json(run.results / CONFIG_NAME, run.config.to_dict())
    except OSError as exc:
        converted = as_disk_error(exc, "lock")
        if converted is exc:
            raise
        raise converted from exc
    run.result.result_key = result_key(run.config, run.backend, run.loaded.source, run.loaded.recording)


def remove_stale_temporaries(manifest: Manifest) -> list[Path]:
    """Delete the temporary files (``*.tmp``) a killed run left in what ``manifest`` owns.

    Called under the sort lock, so no live run of this recording is writing them. Only the
    pipeline's own hidden temporaries at the folder's top level, and any ``*.tmp`` inside the
    folders it created, are removed; a user's file is never touched.
    """
    removed = []
    folder = manifest.folder
    candidates = list(folder.glob(".*.tmp"))
    for relative in manifest.paths:
        owned = folder / relative
        if owned.is_dir():
            candidates += owned.rglob("*.tmp")
    for path in candidates:
        if path.is_file() and not path.is_symlink():
            path.unlink(missing_ok=True)
            removed.append(path)
    return removed
