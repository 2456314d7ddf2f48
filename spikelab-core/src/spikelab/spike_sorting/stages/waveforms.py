"""Stage ``waveforms``: build the SpikeData with what curation needs (streamed, cached).

Extraction and its cache (``<intermediate>/waveforms``) are
:func:`spikelab.spike_sorting.waveforms.build_spikedata`'s; this stage claims the folder and
passes the per-file boundaries of a concatenated recording.
"""

from __future__ import annotations

import attrs

from spikelab.spike_sorting import cache
from spikelab.spike_sorting.stages import RecordingRun, preprocess, stage

FOLDER = "waveforms"


def chunk_bounds_ms(run: RecordingRun) -> list[tuple[float, float]] | None:
    """``[(start_ms, end_ms), ...]`` of each concatenated file, or None for a single file."""
    if len(run.loaded.chunk_samples) <= 1:
        return None
    return run.loaded.rec_chunks_ms


def run(run: RecordingRun) -> None:
    """Build (or reload) ``run.sd_raw``; the cache is :func:`build_spikedata`'s (rebuilt too
    whenever the sort was)."""
    from spikelab.spike_sorting.waveforms import build_spikedata

    folder = run.created(run.intermediate / FOLDER)
    before = cache.read_marker(folder)
    config = run.config
    if "sort" in run.rebuilt and not config.execution.reextract_waveforms:
        config = config.override(reextract_waveforms=True)
    with stage("waveforms", run.result) as fields:
        bounds = chunk_bounds_ms(run)
        sd = build_spikedata(
            run.prepared,
            run.sorting,
            config,
            folder,
            rec_chunks_ms=bounds,
            progress_bar=run.config.execution.progress_bar,
        )
        if before is not None and cache.read_marker(folder) == before:
            fields["cached"] = True
        else:
            run.rebuilt.add("waveforms")
        if bounds is not None:
            sd.metadata.setdefault("rec_chunks_ms", bounds)
            sd.metadata.setdefault("rec_chunk_names", list(run.loaded.chunk_names))
        sd.metadata.setdefault("source_file", str(run.loaded.source) if run.loaded.source else run.name)
        sd.metadata.setdefault("sorter", run.backend.name)
        # where exports find the traces: the prepared binary (same clock as the spikes), and the
        # original input with the options that reopen it the same way (stream, gain, window)
        sd.metadata.setdefault("recording_folder", str(run.intermediate / preprocess.FOLDER))
        sd.metadata.setdefault("recording_config", attrs.asdict(run.config.recording))
        run.sd_raw = sd
        fields["units"] = sd.N
