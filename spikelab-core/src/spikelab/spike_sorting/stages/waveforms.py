"""Stage ``waveforms``: build the SpikeData with what curation needs (streamed, cached).

Extraction itself is :func:`spikelab.spike_sorting.waveforms.build_spikedata`; this stage
decides whether ``<intermediate>/waveforms`` may be reused (its key chains the sorting key and
the waveform configuration) and passes the per-file boundaries of a concatenated recording.
"""

from __future__ import annotations

import attrs
import numpy as np

from spikelab.spike_sorting import cache
from spikelab.spike_sorting.stages import RecordingRun, stage

FOLDER = "waveforms"


def chunk_bounds_ms(run: RecordingRun) -> list[tuple[float, float]] | None:
    """``[(start_ms, end_ms), ...]`` of each concatenated file, or None for a single file."""
    samples = list(run.loaded.chunk_samples)
    if len(samples) <= 1:
        return None
    fs = run.loaded.recording.get_sampling_frequency()
    edges = np.concatenate([[0], np.cumsum(samples)]) / fs * 1000.0
    return [(float(a), float(b)) for a, b in zip(edges[:-1], edges[1:])]


def run(run: RecordingRun) -> None:
    """Build (or reload) ``run.sd_raw``."""
    from spikelab.spike_sorting.waveforms import build_spikedata

    folder = run.intermediate / FOLDER
    key = cache.make_key("waveforms", run.sorting_key, attrs.asdict(run.config.waveform))
    forced = run.config.execution.reextract_waveforms or "sort" in run.rebuilt
    with stage("waveforms", run.result) as fields:
        if not forced and cache.is_valid(folder, key):
            fields["cached"] = True
        else:
            cache.reset(folder, run.manifest)
            run.rebuilt.add("waveforms")
        bounds = chunk_bounds_ms(run)
        sd = build_spikedata(
            run.prepared,
            run.sorting,
            run.config,
            folder,
            rec_chunks_ms=bounds,
            progress_bar=run.config.execution.progress_bar,
        )
        if bounds is not None:
            sd.metadata.setdefault("rec_chunks_ms", bounds)
            sd.metadata.setdefault("rec_chunk_names", list(run.loaded.chunk_names))
        sd.metadata.setdefault("source_file", str(run.loaded.source) if run.loaded.source else run.name)
        sd.metadata.setdefault("sorter", run.backend.name)
        cache.mark_valid(folder, key)
        run.sd_raw = sd
        fields["units"] = sd.N
