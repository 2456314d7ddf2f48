"""Stage ``preprocess``: the backend's preparation, written once as a cached binary recording.

The binary folder (``<intermediate>/recording``) is what the sorter child reads. It is reused
while the input files, the recording configuration and the backend are unchanged, unless
``recompute_recording`` is set.
"""

from __future__ import annotations

import attrs

from spikelab.spike_sorting import cache
from spikelab.spike_sorting.stages import RecordingRun, stage

FOLDER = "recording"


#: Channel-frames per chunk of the prepared copy (32,768 frames of 1,024 channels).
COPY_CHUNK_CHANNEL_FRAMES = 2**25


def job_kwargs(config, num_channels: int) -> dict:
    """SpikeInterface job kwargs from ``config.execution`` for a copy of ``num_channels`` channels."""
    execution = config.execution
    kwargs = {"n_jobs": execution.n_jobs, "progress_bar": execution.progress_bar}
    if execution.total_memory:
        kwargs["total_memory"] = execution.total_memory
    else:
        # Large chunks: SpikeInterface's per-chunk cost dominates a plain copy at 1 s chunks
        # (measured 4x slower on a 64-channel Maxwell file). Sized in channel-frames, not bytes of
        # the output: a backend's band-pass works in float whatever the copy's width, so 128 MB of
        # RT-Sort's float16 copy added 1.30 GB to each worker at 1,024 channels, these chunks 0.69 GB
        # (each worker's RSS at 1,020 channels: 1.69 GB before, 0.96 GB after).
        kwargs["chunk_size"] = max(1, COPY_CHUNK_CHANNEL_FRAMES // max(1, num_channels))
    return kwargs


def recording_key(run: RecordingRun) -> str:
    """The key of the prepared binary: the input, the recording configuration and the backend."""
    backend = run.backend
    return cache.make_key(
        "recording",
        cache.recording_fingerprint(run.loaded.recording, run.loaded.source),
        attrs.asdict(run.config.recording),
        backend.name,
        backend.version,
        backend.prepare_recording is not None,
    )


def run(run: RecordingRun) -> None:
    """Write (or reuse) the prepared binary recording; sets ``run.prepared`` and the key."""
    import spikeinterface as si

    folder = run.intermediate / FOLDER
    backend = run.backend
    key = recording_key(run)
    run.recording_key = key
    with stage("preprocess", run.result) as fields:
        if cache.reusable(folder, key, stage="preprocess", forced=run.config.execution.recompute_recording):
            fields["cached"] = True
        else:
            run.intermediate.mkdir(parents=True, exist_ok=True)
            cache.reset(folder, run.manifest)
            recording = run.loaded.recording
            if backend.prepare_recording is not None:
                recording = backend.prepare_recording(recording, run.config)
            jobs = job_kwargs(run.config, recording.get_num_channels())
            recording.save(folder=folder, overwrite=True, verbose=False, **jobs)
            cache.mark_valid(folder, key, recording=run.name)
            run.rebuilt.add("preprocess")
        run.prepared = si.load(folder)
        fields["samples"] = int(run.prepared.get_num_samples(0))
