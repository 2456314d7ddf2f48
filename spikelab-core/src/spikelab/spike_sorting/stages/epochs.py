"""Stage ``epochs``: split a concatenated recording's SpikeData back into one per file."""

from __future__ import annotations

from typing import TYPE_CHECKING

from spikelab.spike_sorting.stages import RecordingRun, stage

if TYPE_CHECKING:
    from spikelab.spikedata import SpikeData


def split(sd: SpikeData) -> list[SpikeData]:
    """``[sd]`` for a single file; one SpikeData per file (shifted to t=0) for a directory."""
    chunks = sd.metadata.get("rec_chunks_ms")
    return sd.split_epochs() if chunks is not None and len(chunks) > 1 else [sd]


def run(run: RecordingRun) -> list:
    """:func:`split` of the curated SpikeData, kept in ``run.epochs``."""
    with stage("epochs", run.result) as fields:
        run.epochs = split(run.sd_curated)
        fields["epochs"] = len(run.epochs)
    return run.epochs
