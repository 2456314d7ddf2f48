"""Stage ``canary``: sort the first N seconds before committing to the full sort."""

from __future__ import annotations

from spikelab.spike_sorting.stages import RecordingRun, stage


def run(run: RecordingRun) -> None:
    """Run the canary when configured; raise its decisive classified failure, if any."""
    from spikelab.spike_sorting.canary import run_canary

    if run.config.execution.canary_first_n_s <= 0:
        return
    with stage("canary", run.result, window_s=run.config.execution.canary_first_n_s) as fields:
        outcome = run_canary(run)
        fields["outcome"] = outcome.name
    if outcome.error is not None:
        raise outcome.error
