"""The canary: sort the first ``canary_first_n_s`` seconds before the full sort.

It catches "first-time" failures (a broken image, a missing CUDA kernel, a MEX compile error,
a missing dependency) in seconds instead of hours. Outcomes:

* recordings shorter than the window skip it;
* a classified failure of the *environment* or *biological* family aborts the recording with
  that exception (the full sort would fail the same way);
* resource-shaped failures (an OOM in a tiny window says little about the full run, which the
  live watchdogs and the OOM retry guard) and unclassified failures are logged, and the full
  sort proceeds.

The canary sorts into ``<intermediate>/_canary/`` with curation, reports and OOM retries off,
and removes that folder afterwards.
"""

from __future__ import annotations

import shutil

import attrs
import structlog

from spikelab.spike_sorting import cache
from spikelab.spike_sorting._exceptions import (
    BiologicalSortFailure,
    EnvironmentSortFailure,
    SpikeSortingClassifiedError,
)
from spikelab.spike_sorting.folders import Manifest
from spikelab.spike_sorting.results import RecordingResult
from spikelab.spike_sorting.stages import RecordingRun

log = structlog.get_logger("spikelab.canary")

CANARY_FOLDER = "_canary"


@attrs.frozen
class CanaryOutcome:
    """``name`` is ``"skipped"``, ``"passed"``, ``"ignored_failure"`` or ``"aborted"``."""

    name: str
    error: SpikeSortingClassifiedError | None = None
    n_units: int | None = None


def _decisive(exc: BaseException) -> bool:
    return isinstance(exc, (EnvironmentSortFailure, BiologicalSortFailure))


def run_canary(run: RecordingRun) -> CanaryOutcome:
    """Sort the first ``canary_first_n_s`` seconds of ``run``'s recording."""
    from spikelab.spike_sorting.stages import preprocess, sort

    window_s = float(run.config.execution.canary_first_n_s)
    if window_s <= 0:
        return CanaryOutcome("skipped")
    if run.duration_s < window_s:
        log.info("canary_skipped", recording=run.name, duration_s=round(run.duration_s, 3), window_s=window_s)
        return CanaryOutcome("skipped")
    recording = run.loaded.recording
    n_frames = int(round(window_s * recording.get_sampling_frequency()))
    loaded = attrs.evolve(
        run.loaded,
        recording=recording.frame_slice(0, n_frames),
        name=f"{run.name}_canary",
        chunk_names=(f"{run.name}_canary",),
        chunk_samples=(n_frames,),
    )
    config = run.config.override(
        canary_first_n_s=0.0, oom_retry_max=0, curate=False, generate_sorting_report=False, preflight=False
    )
    folder = cache.reset(run.intermediate / CANARY_FOLDER, run.manifest)
    canary = RecordingRun(
        config=config,
        backend=run.backend,
        manager=run.manager,
        loaded=loaded,
        intermediate=folder / "intermediate",
        results=folder / "results",
        result=RecordingResult(rec_name=loaded.name, rec_path=str(run.loaded.source or loaded.name)),
        manifest=Manifest.open(folder / "intermediate"),
    )
    try:
        preprocess.run(canary)
        sort.run(canary)
    except (KeyboardInterrupt, SystemExit):
        raise
    except Exception as exc:
        if _decisive(exc):
            log.warning(
                "canary_aborts_sort", recording=run.name, status=getattr(exc, "status", None),
                error=f"{type(exc).__name__}: {exc}",
            )
            if isinstance(exc, SpikeSortingClassifiedError) and getattr(exc, "stage", None) in (None, "sort"):
                exc.stage = "canary"
            return CanaryOutcome("aborted", error=exc)
        log.warning(
            "canary_failure_ignored", recording=run.name, error=f"{type(exc).__name__}: {exc}",
            reason="not an environment or biological failure; the full sort is guarded by the watchdogs",
        )
        return CanaryOutcome("ignored_failure")
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    n_units = len(canary.sorting.get_unit_ids()) if canary.sorting is not None else None
    log.info("canary_passed", recording=run.name, window_s=window_s, units=n_units)
    return CanaryOutcome("passed", n_units=n_units)
