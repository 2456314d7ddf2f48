"""Stage ``canary``: sort the first N seconds before committing to the full sort."""

from __future__ import annotations

import structlog

from spikelab.spike_sorting import cache
from spikelab.spike_sorting.stages import RecordingRun, stage

log = structlog.get_logger("spikelab.canary")


def _full_sort_cached(run: RecordingRun) -> bool:
    """Whether the sort stage will reuse its cache (so a canary would test nothing)."""
    from spikelab.spike_sorting.stages import preprocess, sort

    execution = run.config.execution
    if execution.recompute_recording or execution.recompute_sorting:
        return False
    key = preprocess.recording_key(run)
    return cache.is_valid(run.intermediate / preprocess.FOLDER, key) and cache.is_valid(
        run.intermediate / sort.FOLDER, sort.sorting_key(run, key)
    )


def run(run: RecordingRun) -> None:
    """Run the canary when configured; raise its decisive classified failure, if any."""
    from spikelab.spike_sorting.canary import run_canary

    if run.config.execution.canary_first_n_s <= 0:
        return
    if _full_sort_cached(run):
        log.info("canary_skipped", recording=run.name, reason="the full sort is cached and will be reused")
        return
    with stage("canary", run.result, window_s=run.config.execution.canary_first_n_s) as fields:
        outcome = run_canary(run)
        fields["outcome"] = outcome.name
    if outcome.error is not None:
        raise outcome.error
