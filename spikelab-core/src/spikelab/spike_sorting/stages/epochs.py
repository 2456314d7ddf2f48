"""Stage ``epochs``: split a concatenated recording's SpikeData back into one per file."""

from __future__ import annotations

from spikelab.spike_sorting.stages import RecordingRun, stage


def run(run: RecordingRun) -> list:
    """``[sd]`` for a single file; one SpikeData per file (shifted to t=0) for a directory."""
    sd = run.sd_curated
    with stage("epochs", run.result) as fields:
        chunks = sd.metadata.get("rec_chunks_ms")
        run.epochs = sd.split_epochs() if chunks is not None and len(chunks) > 1 else [sd]
        fields["epochs"] = len(run.epochs)
    return run.epochs
