"""The ``fake`` sorter: a real (if simple) threshold sorter that can also fail on demand.

Its behaviour is chosen by the ``fake_behaviour`` parameter (a flat override:
``sort_recording(..., sorter="fake", fake_behaviour="gpu_oom")``):

``ok``
    Detects negative threshold crossings and makes one unit per channel that wins spikes.
``no_spikes``
    Logs like Kilosort4 on a silent recording and raises its "No spikes detected" error.
``gpu_oom``
    Raises PyTorch's CUDA out-of-memory error while ``batch_size`` exceeds
    ``fake_oom_above_batch`` (always, when that is None), so OOM retries can succeed.
``eat_memory``
    Allocates and touches memory in steps until stopped (capped by ``fake_eat_limit_gb``).
``hang``
    Logs one line, then goes silent for ``fake_hang_s`` seconds.
``docker_down``
    Fails as a Docker variant does when the engine is not running.
``crash``
    Dies with SIGSEGV after a "Fatal Python error" line, as a crashed extension would.

A recording annotated with ``fake_behaviour`` (``recording.annotate(fake_behaviour="no_spikes")``)
overrides the parameter for that recording. ``fake_delay_s`` makes a successful sort take longer
(logging as it goes), for tests that interrupt a sort.
"""

from __future__ import annotations

import os
import re
import signal
import sys
import time
from pathlib import Path

import numpy as np

from spikelab.plugins import hookimpl
from spikelab.spike_sorting import _exceptions as ex
from spikelab.spike_sorting._classifier import find_line, read_sorter_log
from spikelab.spike_sorting.backend import OomKnob, SorterBackend, SortJob

NAME = "fake"
LOG_NAME = "fake.log"
BEHAVIOURS = ("ok", "no_spikes", "gpu_oom", "eat_memory", "hang", "crash", "docker_down")

DEFAULT_PARAMS = {
    "fake_behaviour": "ok",
    "batch_size": 60000,
    "detect_threshold": 5.5,
    "min_spikes_per_unit": 10,
    "fake_oom_above_batch": None,
    "fake_hang_s": 3600.0,
    "fake_eat_limit_gb": 8.0,
    "fake_eat_step_mb": 200,
    "fake_delay_s": 0.0,
    # the GPU a GPU backend would use ("cuda:1"); tests of GPU preflight and watchdogs set it
    "torch_device": "auto",
}


def _say(message: str) -> None:
    print(f"{time.strftime('%Y-%m-%d %H:%M:%S')} kilosort.run_kilosort INFO {message}", flush=True)


CHUNK_S = 1.0
"""Seconds of recording the ``ok`` sorter filters at a time (plus margins)."""
MARGIN_S = 0.1
"""Extra seconds read on each side of a chunk, so the zero-phase filter has settled at its edges."""
EXACT_NOISE_BYTES = 64 * 2**20
"""Filtered recordings up to this size get the exact noise (median over every sample, kept for the
detection pass); larger ones the median of per-chunk medians over ``NOISE_CHUNKS`` evenly spaced chunks."""
NOISE_CHUNKS = 30
PROGRESS_LINES = 20
"""Progress lines logged over the detection pass (a 1,020-channel x 10-minute pass is silent for
more than the 900 s the inactivity watchdog allows without them)."""


def _bandpass(fs: float) -> np.ndarray:
    from scipy.signal import butter

    return butter(3, [300.0, min(6000.0, 0.45 * fs)], btype="bandpass", fs=fs, output="sos")


def _filtered(recording, sos: np.ndarray, start: int, stop: int) -> np.ndarray:
    """Band-passed traces of frames ``start:stop`` (float64), read with a margin on each side."""
    from scipy.signal import sosfiltfilt

    margin = int(MARGIN_S * recording.get_sampling_frequency())
    lo, hi = max(0, start - margin), min(recording.get_num_samples(), stop + margin)
    traces = recording.get_traces(start_frame=lo, end_frame=hi, return_in_uV=recording.has_scaleable_traces())
    return sosfiltfilt(sos, traces.astype(np.float64), axis=0)[start - lo : stop - lo]


def _detect(recording, threshold: float) -> tuple[np.ndarray, np.ndarray]:
    """Negative threshold crossings (in noise units) of the band-passed recording, chunk by chunk.

    Memory is bounded by a chunk (``CHUNK_S``) or ``EXACT_NOISE_BYTES``, not by the recording's
    length. The noise is the median absolute filtered value per channel (/0.6745): over every sample
    of a small recording, else the median of per-chunk medians over evenly spaced chunks.
    """
    fs = recording.get_sampling_frequency()
    n_samples, n_channels = recording.get_num_samples(), recording.get_num_channels()
    sos = _bandpass(fs)
    step = max(1, int(CHUNK_S * fs))
    starts = list(range(0, n_samples, step))
    pieces: dict[int, np.ndarray] = {}
    if n_samples * n_channels * 8 <= EXACT_NOISE_BYTES:
        pieces = {s: _filtered(recording, sos, s, min(n_samples, s + step)) for s in starts}
        noise = np.median(np.abs(np.concatenate(list(pieces.values()))), axis=0) / 0.6745
    else:
        picked = [starts[i] for i in np.unique(np.linspace(0, len(starts) - 1, NOISE_CHUNKS).astype(int))]
        medians = [np.median(np.abs(_filtered(recording, sos, s, min(n_samples, s + step))), axis=0) for s in picked]
        noise = np.median(np.stack(medians), axis=0) / 0.6745
    noise[noise == 0] = 1.0
    found_samples, found_values, found_channels = [], [], []
    every = max(1, len(starts) // PROGRESS_LINES)
    for done, start in enumerate(starts, 1):
        if done % every == 0 or done == len(starts):
            # as Kilosort4's tqdm bar does: a long pass is not mistaken for a hang by the inactivity watchdog
            _say(f"{100 * done // len(starts):3d}%| {done}/{len(starts)} chunks")
        filtered = pieces.pop(start, None)
        if filtered is None:
            filtered = _filtered(recording, sos, start, min(n_samples, start + step))
        scaled = filtered / noise
        best_channel = np.argmin(scaled, axis=1)
        best_value = scaled[np.arange(len(scaled)), best_channel]
        idx = np.flatnonzero(best_value < -threshold)
        found_samples.append(idx + start)
        found_values.append(best_value[idx])
        found_channels.append(best_channel[idx])
    samples, values = np.concatenate(found_samples), np.concatenate(found_values)
    channels = np.concatenate(found_channels)
    # local minima across time of the best-channel signal, at least 1 ms apart
    refractory = max(1, int(fs / 1000))
    keep: list[int] = []
    for i, sample in enumerate(samples):
        if keep and sample - samples[keep[-1]] < refractory:
            if values[i] < values[keep[-1]]:
                keep[-1] = i
            continue
        keep.append(i)
    return samples[keep].astype(np.int64), channels[keep]


def _run_ok(job: SortJob) -> None:
    import spikeinterface as si

    delay = float(job.params.get("fake_delay_s") or 0.0)
    deadline = time.monotonic() + delay
    while time.monotonic() < deadline:
        _say("Computing drift correction.")
        time.sleep(min(0.5, max(0.0, deadline - time.monotonic())))

    recording = si.load(job.recording_folder)
    fs = recording.get_sampling_frequency()
    n_samples = recording.get_num_samples()
    batch = int(job.params["batch_size"])
    _say(f"N samples: {n_samples}")
    _say(f"N seconds: {n_samples / fs}")
    _say(f"N batches: {int(np.ceil(n_samples / batch))}")
    _say("Extracting spikes using templates")
    samples, channels = _detect(recording, float(job.params["detect_threshold"]))
    _say(f"{len(samples)} spikes extracted in 0.10s; total 0.10s")
    if len(samples) == 0:
        raise ValueError("No spikes detected, cannot continue sorting.")
    labels, counts = np.unique(channels, return_counts=True)
    good = set(labels[counts >= int(job.params["min_spikes_per_unit"])].tolist())
    mask = np.array([c in good for c in channels], dtype=bool)
    samples, channels = samples[mask], channels[mask]
    _say(f"{len(good)} units found, in 0.20s; total 0.30s")
    job.sorter_folder.mkdir(parents=True, exist_ok=True)
    np.save(job.sorter_folder / "spike_times.npy", samples)
    np.save(job.sorter_folder / "spike_clusters.npy", channels.astype(np.int64))
    (job.sorter_folder / "params.txt").write_text(f"sampling_frequency={fs}\n")
    _say(f"Sorting output saved in: {job.sorter_folder}")


def _behaviour(job: SortJob) -> str:
    # A recording annotated with ``fake_behaviour`` overrides the parameter, so one batch can
    # hold recordings that fail in different ways.
    import spikeinterface as si

    try:
        annotated = si.load(job.recording_folder).get_annotation("fake_behaviour")
    except Exception:
        annotated = None
    return annotated or job.params.get("fake_behaviour", "ok")


def run(job: SortJob) -> None:
    """The fake sorter's runner (executes in the sorter child process)."""
    behaviour = _behaviour(job)
    if behaviour not in BEHAVIOURS:
        raise ValueError(f"fake_behaviour must be one of {BEHAVIOURS}, got {behaviour!r}")
    _say("Kilosort version 4.1.7 (fake)")
    _say("Using CPU for PyTorch computations. Specify `device` to change this.")
    _say("Computing preprocessing variables.")
    if behaviour == "ok":
        _run_ok(job)
    elif behaviour == "no_spikes":
        _say("Extracting spikes using templates")
        _say("0 spikes extracted in 0.52s; total 1.10s")
        raise ValueError("No spikes detected, cannot continue sorting.")
    elif behaviour == "gpu_oom":
        limit = job.params.get("fake_oom_above_batch")
        if limit is None or job.params["batch_size"] > limit:
            _say("Out of memory error, printing performance...")
            raise MemoryError(  # stands in for torch.OutOfMemoryError (no torch needed here)
                "torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 2.00 GiB. GPU 0 has "
                "a total capacity of 7.79 GiB of which 1.02 GiB is free. If reserved but unallocated "
                "memory is large try setting PYTORCH_CUDA_ALLOC_CONF=expandable_segments:True"
            )
        _run_ok(job)
    elif behaviour == "eat_memory":
        _say("Computing drift correction.")
        hoard = []
        step = int(job.params["fake_eat_step_mb"]) * 2**20
        limit = float(job.params["fake_eat_limit_gb"]) * 2**30
        while len(hoard) * step < limit:
            block = np.ones(step, dtype=np.uint8)  # touched, so really resident
            hoard.append(block)
            time.sleep(0.05)
        time.sleep(3600)
    elif behaviour == "hang":
        _say("Computing drift correction.")
        time.sleep(float(job.params["fake_hang_s"]))
    elif behaviour == "docker_down":
        raise RuntimeError(
            "docker.errors.DockerException: Error while fetching server API version: "
            "('Connection aborted.', FileNotFoundError(2, 'No such file or directory')). "
            "Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?"
        )
    elif behaviour == "crash":
        print("Fatal Python error: Segmentation fault", file=sys.stderr, flush=True)
        os.kill(os.getpid(), signal.SIGSEGV)


def read_sorting(sorter_folder: Path):
    """Read the fake sorter's output as a SpikeInterface sorting."""
    import spikeinterface.core as sc

    folder = Path(sorter_folder)
    fs = float(re.search(r"sampling_frequency=([0-9.]+)", (folder / "params.txt").read_text()).group(1))
    samples = np.load(folder / "spike_times.npy")
    labels = np.load(folder / "spike_clusters.npy")
    return sc.NumpySorting.from_samples_and_labels([samples], [labels], sampling_frequency=fs)


def classify_fake_failure(output_folder: Path, exc: BaseException):
    """Classify the fake sorter's failures from its log (same signatures as Kilosort4)."""
    log_text, log_path = read_sorter_log(output_folder, [LOG_NAME])
    found = find_line(log_text, r"No spikes detected") or find_line(
        getattr(exc, "traceback_text", "") or str(exc), r"No spikes detected"
    )
    if found:
        crossings = find_line(log_text, r"(\d+) spikes extracted")
        return ex.InsufficientActivityError(
            "The sorter found no spikes: the recording looks silent (check the gain, the dtype, "
            "and that the right stream was read).",
            sorter=NAME,
            log_path=log_path,
            matched_line=found[1],
            threshold_crossings=int(crossings[0].group(1)) if crossings else 0,
        )
    return None


def _check_environment(config) -> list[str]:
    behaviour = config.sorter.sorter_params.get("fake_behaviour", "ok")
    if behaviour not in BEHAVIOURS:
        return [f"fake_behaviour={behaviour!r} is not one of {BEHAVIOURS}"]
    return []


def _preset():
    from spikelab.spike_sorting.config import SortingPipelineConfig

    return SortingPipelineConfig().override(sorter="fake")


BACKEND = SorterBackend(
    name=NAME,
    distribution="spikelab-core (testing)",
    version="1.0",
    run=run,
    read_sorting=read_sorting,
    default_params=DEFAULT_PARAMS,
    presets={"FAKE": _preset},
    default_preset="FAKE",
    oom_knob=OomKnob(name="batch_size", default=60000, floor=1000, factor=0.5),
    classifier=classify_fake_failure,
    classifier_name="classify_fake_failure",
    check_environment=_check_environment,
    device_param="torch_device",
    log_name=LOG_NAME,
    description="Threshold sorter for tests; fails on demand (fake_behaviour).",
)


@hookimpl
def spikelab_register_sorters(register) -> None:
    register(BACKEND)
