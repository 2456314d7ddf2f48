"""Sort a stimulation recording with a previously fitted RT-Sort object."""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np
import structlog
from spikeinterface.core import BaseRecording, BaseSorting, NumpyRecording

from spikelab_stim._validation import check_fs, check_positive, check_traces
from spikelab_stim.params import stim_params
from spikelab_stim.preprocess import preprocess_stim_artifacts
from spikelab_stim.slices import SpikeSliceStack, _plain

log = structlog.get_logger(__name__)

__all__ = ["OfflineSorter", "sort_stim_recording"]


@runtime_checkable
class OfflineSorter(Protocol):
    """What :func:`sort_stim_recording` needs from a fitted sorter (e.g. ``spikelab_rtsort.RTSort``).

    ``sort_offline(recording)`` must return either a SpikeInterface ``BaseSorting`` on the
    recording's frames, or a list with one array of spike frames (sample indices) per unit.
    If it accepts ``return_spikeinterface_sorter``, it is called with True.
    """

    def sort_offline(self, recording, *args, **kwargs) -> Any: ...


def sort_stim_recording(
    stim_recording,
    rt_sort,
    stim_times_ms,
    pre_ms,
    post_ms,
    fs_Hz=None,
    *,
    params=None,
    model=None,
    model_path=None,
    recording_window_ms=None,
    sort_kwargs=None,
    **options,
):
    """Remove stim artifacts, sort with a fitted RT-Sort object and cut spikes around each stimulus.

    Parameters
    ----------
    stim_recording : BaseRecording or np.ndarray
        The stimulation recording: a single-segment SpikeInterface recording, or raw traces
        shaped (channels, samples) together with ``fs_Hz``.
    rt_sort : OfflineSorter or str or Path
        A fitted sorter with ``sort_offline`` (``spikelab_rtsort.RTSort``), or the path of an
        RT-Sort pickle saved with ``RTSort.save`` (then ``model`` or ``model_path`` is needed).
    stim_times_ms : array-like
        Logged stim times in ms, non-decreasing.
    pre_ms, post_ms : float
        Window kept around each stimulation, ``[-pre_ms, +post_ms)``.
    fs_Hz : float or None, default: None
        Sampling rate; required for array input, checked against a recording's.
    params : StimParams or None, default: None
        Recentring and removal options declared beforehand; ``**options`` override them.
    model, model_path : optional
        Detection model (or its folder) to attach when ``rt_sort`` is a path.
    recording_window_ms : (float, float) or None, default: None
        Sort only this part of the recording; events whose window leaves it are dropped.
    sort_kwargs : dict or None, default: None
        Extra keyword arguments for ``rt_sort.sort_offline``.
    **options
        Any option of :class:`~spikelab_stim.params.StimParams`, as for
        :func:`preprocess_stim_artifacts`: ``recenter``, ``max_offset_ms``, ``peak_mode``, the
        ``multi_peak_*`` options, ``method``, ``artifact_window_ms``, ``poly_order``, ...
        (``artifact_method`` and ``max_stim_offset_ms``, this function's old spellings of
        ``method`` and ``max_offset_ms``, still work with a DeprecationWarning).

    Returns
    -------
    slices : SpikeSliceStack
        One slice per kept stimulation (times relative to the corrected stim time).
    spike_data : spikelab.SpikeData
        All sorted spikes on the recording clock, with ``metadata["stim_times_ms_corrected"]``.
    """
    stim = stim_params("sort_stim_recording", options, params=params)
    recording = _as_recording(stim_recording, fs_Hz)
    pre = check_positive(pre_ms, "pre_ms", allow_zero=True)
    post = check_positive(post_ms, "post_ms")
    sorter = _resolve_sorter(rt_sort, model, model_path)
    fs = recording.get_sampling_frequency()
    duration_ms = recording.get_num_samples(0) / fs * 1000.0
    window = _check_window(recording_window_ms, duration_ms)

    cleaned, meta = preprocess_stim_artifacts(recording, stim_times_ms, params=stim, compute_blanked_fraction=False)
    start_frame, end_frame = (int(round(w * fs / 1000.0)) for w in window)
    to_sort = cleaned if (start_frame, end_frame) == (0, recording.get_num_samples(0)) else cleaned.frame_slice(
        start_frame, end_frame)
    result = _call_sort_offline(sorter, to_sort, sort_kwargs or {})
    unit_ids, trains = _trains_ms(result, fs, offset_ms=start_frame / fs * 1000.0)
    corrected = meta["stim_times_ms_corrected"]

    from spikelab import SpikeData

    spike_data = SpikeData(
        trains, N=len(trains), length=duration_ms,
        neuron_attributes=[{"unit_id": _plain(u)} for u in unit_ids],
        metadata={"fs_Hz": fs, "stim_times_ms_logged": meta["stim_times_ms_logged"],
                  "stim_times_ms_corrected": corrected, "recording_window_ms": window},
    )
    slices = SpikeSliceStack.from_spike_trains(
        trains, corrected, pre, post, recording_start_ms=window[0], recording_end_ms=window[1],
        unit_ids=unit_ids, metadata={"fs_Hz": fs, "recenter_offsets_ms": meta["recenter_offsets_ms"]},
    )
    if slices.n_events == 0:
        raise ValueError(
            f"No stimulation has its whole window [-{pre}, +{post}) ms inside the sorted part of the recording "
            f"{window} ms; shorten `pre_ms`/`post_ms` or widen `recording_window_ms`."
        )
    log.info("stim_sorted", n_units=len(trains), n_events_kept=slices.n_events,
             n_events_dropped=int(len(corrected) - slices.n_events), n_spikes=int(sum(t.size for t in trains)))
    return slices, spike_data


def _as_recording(stim_recording, fs_Hz) -> BaseRecording:
    if isinstance(stim_recording, BaseRecording):
        if fs_Hz is not None and abs(check_fs(fs_Hz) - stim_recording.get_sampling_frequency()) > 1e-6:
            raise ValueError(
                f"`fs_Hz`={fs_Hz} disagrees with the recording's sampling rate "
                f"{stim_recording.get_sampling_frequency()} Hz; drop `fs_Hz`."
            )
        return stim_recording
    if isinstance(stim_recording, (str, Path)):
        raise TypeError(
            "`stim_recording` must be a SpikeInterface recording or a (channels, samples) array; got a path. "
            "Load it first, e.g. `spikeinterface.extractors.read_maxwell(path)`."
        )
    traces = check_traces(stim_recording, "stim_recording")
    if fs_Hz is None:
        raise ValueError("`fs_Hz` is required when `stim_recording` is an array.")
    return NumpyRecording(np.ascontiguousarray(traces.T), sampling_frequency=check_fs(fs_Hz))


def _resolve_sorter(rt_sort, model, model_path):
    if isinstance(rt_sort, (str, Path)):
        try:
            from spikelab_rtsort import DetectionModel, load_detection_model
            from spikelab_rtsort.rtsort import RTSort
        except ImportError as exc:
            raise ImportError(
                "Loading an RT-Sort pickle needs spikelab-rtsort: `pip install spikelab-rtsort`."
            ) from exc
        if model is None and model_path is None:
            raise ValueError("`rt_sort` is a path: pass the detection `model` or its `model_path` as well.")
        model = model if isinstance(model, DetectionModel) else load_detection_model(model_path or model)
        return RTSort.load(rt_sort, model)
    if not isinstance(rt_sort, OfflineSorter):
        raise TypeError(
            f"`rt_sort` must be a fitted sorter with a `sort_offline(recording)` method (e.g. spikelab_rtsort.RTSort) "
            f"or the path of its pickle; got {type(rt_sort).__name__}."
        )
    return rt_sort


def _check_window(recording_window_ms, duration_ms):
    if recording_window_ms is None:
        return (0.0, duration_ms)
    try:
        a, b = (float(v) for v in recording_window_ms)
    except (TypeError, ValueError):
        raise ValueError(f"`recording_window_ms` must be (start_ms, end_ms); got {recording_window_ms!r}.") from None
    if not 0 <= a < b <= duration_ms + 1e-9:
        raise ValueError(
            f"`recording_window_ms` {recording_window_ms} must satisfy 0 <= start < end <= {duration_ms} ms."
        )
    return (a, b)


def _call_sort_offline(sorter, recording, kwargs):
    params = inspect.signature(sorter.sort_offline).parameters
    if "return_spikeinterface_sorter" in params and "return_spikeinterface_sorter" not in kwargs:
        kwargs = {**kwargs, "return_spikeinterface_sorter": True}
    return sorter.sort_offline(recording, **kwargs)


def _trains_ms(result, fs, offset_ms):
    """Unit ids and per-unit spike times (ms, recording clock) from a sort_offline result."""
    if isinstance(result, BaseSorting):
        ids = np.asarray(result.unit_ids)
        trains = [np.asarray(result.get_unit_spike_train(u, segment_index=0), dtype=float) for u in ids]
    elif isinstance(result, (list, tuple)):
        ids = np.arange(len(result))
        trains = [np.asarray(t, dtype=float).ravel() for t in result]
    else:
        raise TypeError(
            f"`rt_sort.sort_offline` returned {type(result).__name__}; expected a SpikeInterface sorting or a list "
            "of per-unit spike-frame arrays."
        )
    return ids, [np.sort(t) / fs * 1000.0 + offset_ms for t in trains]
