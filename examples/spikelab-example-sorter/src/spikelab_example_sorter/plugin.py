"""Everything SpikeLab needs to know about the ``threshold`` sorter."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np

from spikelab.plugin import (
    InsufficientActivityError,
    OomKnob,
    SorterBackend,
    SortJob,
    find_line,
    hookimpl,
    knob,
    knobs,
    positive,
    read_sorter_log,
)

LOG_NAME = "threshold.log"


@knobs
class ThresholdParams:
    """The ``threshold`` sorter's parameters."""

    threshold: float = knob(5.0, "Detection threshold below the median noise.", unit="noise SD", validator=positive)
    chunk_samples: int = knob(200_000, "Samples filtered at once; lowered after out-of-memory errors.",
                              unit="samples", validator=positive)


def run(job: SortJob) -> None:
    """Runs in a child process; stdout goes to ``job.log_path``."""
    import spikeinterface as si
    from scipy.signal import butter, sosfiltfilt

    recording = si.load(job.recording_folder)
    fs = recording.get_sampling_frequency()
    chunk = int(job.params["chunk_samples"])
    sos = butter(3, [300, 0.45 * fs], btype="bandpass", fs=fs, output="sos")
    samples, channels = [], []
    for start in range(0, recording.get_num_samples(), chunk):
        traces = recording.get_traces(start_frame=start, end_frame=min(start + chunk, recording.get_num_samples()))
        filtered = sosfiltfilt(sos, traces.astype(np.float64), axis=0)
        noise = np.median(np.abs(filtered), axis=0) / 0.6745 + 1e-12
        below = filtered < -job.params["threshold"] * noise
        onsets = below[1:] & ~below[:-1]
        frame, channel = np.nonzero(onsets)
        samples.append(frame + start + 1)
        channels.append(channel)
        print(
            f"threshold: {start + traces.shape[0]}/{recording.get_num_samples()} samples, {len(frame)} crossings",
            flush=True,
        )
    samples, channels = np.concatenate(samples), np.concatenate(channels)
    if samples.size == 0:
        raise RuntimeError("threshold: 0 crossings found; the recording looks silent")
    np.save(job.sorter_folder / "samples.npy", samples)
    np.save(job.sorter_folder / "labels.npy", channels)
    (job.sorter_folder / "info.json").write_text(json.dumps({"fs": fs}))


def read_sorting(folder: Path):
    import spikeinterface.core as sc

    fs = json.loads((Path(folder) / "info.json").read_text())["fs"]
    return sc.NumpySorting.from_samples_and_labels(
        [np.load(Path(folder) / "samples.npy")], [np.load(Path(folder) / "labels.npy")], fs
    )


def classify_threshold_failure(output_folder: Path, exc: BaseException):
    text, log_path = read_sorter_log(output_folder, [LOG_NAME])
    found = find_line(text, re.compile(r"threshold: 0 crossings found"))
    if found:
        return InsufficientActivityError(
            "No threshold crossings: check the gain and that the right stream was read.",
            sorter="threshold", log_path=log_path, matched_line=found[1], threshold_crossings=0,
        )
    return None


def _preset():
    from spikelab.spike_sorting.config import SortingPipelineConfig

    return SortingPipelineConfig().override(sorter="threshold")


@hookimpl
def spikelab_register_sorters(register):
    register(
        SorterBackend(
            name="threshold",
            distribution="spikelab-example-sorter",
            version="0.1.0",
            run=run,
            read_sorting=read_sorting,
            params=ThresholdParams,
            presets={"THRESHOLD": _preset},
            oom_knob=OomKnob(name="chunk_samples", default=200_000, floor=10_000),
            classifier=classify_threshold_failure,
            classifier_name="classify_threshold_failure",
            log_name=LOG_NAME,
            description="Per-channel threshold crossings (an example plugin).",
        )
    )
