"""The RT-Sort runner, executed in the sorter's child process by SpikeLab's pipeline.

Layout of the sorter folder::

    <sorter_folder>/rt_sort.log               the log (this runner's events)
    <sorter_folder>/spikelab_run.json         provenance: parameters, model, counts, timings
    <sorter_folder>/sorting.npz               unit_ids, fs and one spike train per unit (samples)
    <sorter_folder>/root_elecs.npy            root channel index of each unit
    <sorter_folder>/rt_sort.pickle            the RTSort object (without its model), for streaming
"""

from __future__ import annotations

import platform
import time
from pathlib import Path
from typing import Any

import attrs
import numpy as np
import structlog

from spikelab.atomic import atomic_open
from spikelab.spike_sorting import provenance

from ._paths import default_model_path
from .params import NEUROPIXELS_OVERRIDES, RTSortBackendParams, RTSortParams

log = structlog.get_logger("spikelab_rtsort")

SORTER = "rt_sort"
LOG_NAME = "rt_sort.log"
RUN_RECORD = provenance.RUN_RECORD
SORTING_FILE = "sorting.npz"

#: Backend parameters (flat ``sort_recording`` keyword arguments) and their defaults.
DEFAULT_PARAMS: dict[str, Any] = attrs.asdict(RTSortBackendParams())
#: Memory sequence detection holds per channel and frame of its window: the network's logits and
#: the scaled traces, 2 bytes each as float16 (``float16_window``, the default) and 4 as float32,
#: plus one byte of margin for what does not grow with the window (``bench/rtsort/memory.py``
#: measured 4.0 B per channel-frame of slope and 6.0 B at 256 channels x 30 s with float16, 9.7 B
#: with float32; 17 B before noise and peaks were taken by blocks).
DETECTION_BYTES_PER_CHANNEL_FRAME = {True: 5, False: 9}
#: Share of the memory available when the sort starts that the detection window may take.
DETECTION_MEMORY_SHARE = 0.5
#: Shortest detection window worth running (s): below it a whole array does not fit at all.
MIN_DETECTION_WINDOW_S = 30.0


def detection_window(requested: float | None, n_channels: int, fs: float, duration_s: float,
                     available_bytes: int | None = None, float16: bool = True) -> float | None:
    """The detection window (s, or None for the whole recording) that fits in memory.

    Sequence detection holds its whole window in memory (about 5 bytes per channel and frame
    with ``float16``, 9 without), which is 6 GB for one minute of a 1,020-electrode array. The
    default window (all of the
    recording) is shortened to what fits in half the memory available now, and the rest of the
    recording is sorted block by block with the sequences found there. A window the user set that
    does not fit is refused before any work, with the size that would.

    Raises
    ------
    HostMemoryError
        When the user's window does not fit, or not even ``MIN_DETECTION_WINDOW_S`` would.
    """
    import psutil

    from spikelab.plugin import HostMemoryError

    available = psutil.virtual_memory().available if available_bytes is None else available_bytes
    per_second = n_channels * fs * DETECTION_BYTES_PER_CHANNEL_FRAME[bool(float16)]
    fits_s = DETECTION_MEMORY_SHARE * available / per_second
    wanted_s = duration_s if requested is None else min(float(requested), duration_s)
    if wanted_s <= fits_s:
        return requested
    need_gb, have_gb = wanted_s * per_second / 1e9, available / 1e9
    if requested is not None:
        raise HostMemoryError(
            f"rt_sort_detection_window_s={requested:g} s of {n_channels} channels needs about {need_gb:.1f} GB "
            f"for sequence detection, and {have_gb:.1f} GB of memory is available; set it to "
            f"{int(fits_s)} s or less.", sorter=SORTER)
    if fits_s < min(MIN_DETECTION_WINDOW_S, duration_s):
        raise HostMemoryError(
            f"Sequence detection on {n_channels} channels needs about {per_second / 1e9:.2f} GB per second of "
            f"recording, and only {have_gb:.1f} GB of memory is available: not even "
            f"{MIN_DETECTION_WINDOW_S:g} s fit. Free memory, or sort fewer channels at a time.", sorter=SORTER)
    window_s = float(int(fits_s))
    log.warning("rtsort.detection_window_capped", window_s=window_s, recording_s=round(duration_s, 3),
                channels=n_channels, needed_gb=round(need_gb, 1), available_gb=round(have_gb, 1))
    return window_s


def resolve_model_path(params: dict[str, Any]) -> Path:
    """The model folder a run uses: ``rt_sort_model_path`` or the shipped one for the probe."""
    if params.get("rt_sort_model_path"):
        return Path(params["rt_sort_model_path"])
    return default_model_path(params.get("rt_sort_probe") or "mea")


def sorter_params(params: dict[str, Any]) -> RTSortParams:
    """``RTSortParams`` for a run: probe preset plus ``rt_sort_params`` overrides."""
    overrides: dict[str, Any] = {}
    if params.get("rt_sort_probe") == "neuropixels":
        overrides.update(NEUROPIXELS_OVERRIDES)
    overrides.update(dict(params.get("rt_sort_params") or {}))
    return RTSortParams().override(**overrides)


def write_sorting(folder: Path, trains: list[np.ndarray], fs: float) -> Path:
    """Write spike trains (samples) to ``sorting.npz`` atomically."""
    path = folder / SORTING_FILE
    arrays = {f"u{k}": np.asarray(t, dtype=np.int64) for k, t in enumerate(trains)}
    with atomic_open(path) as handle:
        np.savez(handle, unit_ids=np.arange(len(trains)), fs=np.float64(fs), **arrays)
    return path


def run(job) -> None:
    """Detect propagation sequences and sort the recording of ``job`` (a ``SortJob``)."""
    import spikeinterface as si
    import torch

    from .model import load_detection_model
    from .rtsort import RTSort

    began = time.time()
    params = dict(DEFAULT_PARAMS)
    params.update(job.params)
    folder = Path(job.sorter_folder)
    folder.mkdir(parents=True, exist_ok=True)
    recording = si.load(job.recording_folder)
    model_path = resolve_model_path(params)
    log.info("rtsort.start", model_path=str(model_path), channels=recording.get_num_channels(),
             seconds=recording.get_total_duration())
    device = params["rt_sort_device"] or "cpu"
    model = load_detection_model(model_path, device=device)
    n_jobs = int(getattr(job.config.execution, "n_jobs", -1) or -1)
    if n_jobs > 0:
        torch.set_num_threads(n_jobs)
    rt_params = sorter_params(params)
    window_s = detection_window(params["rt_sort_detection_window_s"], recording.get_num_channels(),
                                recording.get_sampling_frequency(), recording.get_total_duration(),
                                float16=rt_params.float16_window)
    # One network pass when sequences are detected on the whole recording. The progress bars
    # go to the sorter's log: on a whole array detection takes many minutes, and a silent log
    # is what the inactivity watchdog stops as hung.
    rts, trains = RTSort.detect_and_sort(
        recording, model, params=rt_params, detection_window_s=window_s,
        batch_size=int(params["rt_sort_batch_size"]), progress_bar=True)
    log.info("rtsort.sequences_detected", units=rts.num_units)
    fs = recording.get_sampling_frequency()
    write_sorting(folder, trains, fs)
    np.save(folder / "root_elecs.npy", rts.root_electrodes)
    rts.save(folder / "rt_sort.pickle")
    provenance.write_run_record(folder, dict(
        sorter=SORTER, params=params, model_path=str(model_path),
        model_training=model.init_dict.get("training", {}).get("command"),
        units=rts.num_units, spikes=int(sum(len(t) for t in trains)),
        detection_and_sorting_s=round(time.time() - began, 3),
        versions=dict(python=platform.python_version(), torch=torch.__version__,
                      spikeinterface=si.__version__)))
    log.info("rtsort.done", units=rts.num_units, seconds=round(time.time() - began, 2))


def read_sorting(sorter_folder):
    """The units of an RT-Sort run as a SpikeInterface ``NumpySorting`` (ids 0..K-1)."""
    from spikeinterface.core import NumpySorting

    path = Path(sorter_folder) / SORTING_FILE
    if not path.is_file():
        raise FileNotFoundError(
            f"No RT-Sort output in {sorter_folder}: {SORTING_FILE} is missing. The sort did not "
            f"finish; read {Path(sorter_folder) / LOG_NAME} and sort again.")
    with np.load(path) as data:
        fs = float(data["fs"])
        units = {int(u): data[f"u{int(u)}"] for u in data["unit_ids"]}
    return NumpySorting.from_unit_dict(units, fs)


def bandpass(recording, freq_min: float = 300.0, freq_max: float = 6000.0):
    """The detection network's input band (upper corner capped at 0.45 fs), float32."""
    import spikeinterface.preprocessing as spre

    freq_max = min(float(freq_max), 0.45 * recording.get_sampling_frequency())
    return spre.bandpass_filter(recording, freq_min=float(freq_min), freq_max=freq_max,
                                dtype="float32")


#: Largest magnitude the float16 binary copy stores (float16's finite maximum is 65,504).
FLOAT16_LIMIT = 65000.0


def prepare_recording(recording, config):
    """Band-pass the recording (``config.recording`` corners) unless ``rt_sort_bandpass=False``.

    The band-passed copy the pipeline writes for RT-Sort is float16, in the recording's own
    units (ADC counts for a Maxwell file): the same size as a uint16 input, where float32 was
    twice it (a 1,020-channel x 10-minute file needed 49 GB beside its 24.5 GB). float16 keeps
    11 significant bits: 0.06 counts at 100, far below the input's own 1-count step. Values are
    clipped to +-65,000 first, so a saturated artifact stays finite.
    """
    import spikeinterface.preprocessing as spre

    params = dict(DEFAULT_PARAMS)
    params.update(config.sorter.sorter_params)
    if not params.get("rt_sort_bandpass", True):
        return recording
    filtered = bandpass(recording, config.recording.freq_min, config.recording.freq_max)
    copy = spre.astype(spre.clip(filtered, a_min=-FLOAT16_LIMIT, a_max=FLOAT16_LIMIT), dtype="float16")
    if not copy.has_scaleable_traces():
        # traces already in µV: unit gains, so that every read in µV (waveforms, the analyzers of
        # the exports, whose std templates square the traces) is widened to float32
        copy.set_channel_gains(1.0)
        copy.set_channel_offsets(0.0)
    return copy
