"""Building a :class:`~spikelab.SpikeData` from index arrays or SpikeInterface, and back."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from spikelab.spikedata.errors import SpikeDataError

if TYPE_CHECKING:
    from spikelab.spikedata.spikedata import SpikeData


def samples_to_ms(samples: Any, fs: float) -> np.ndarray:
    """Sample indices to ms, ``samples * 1000 / fs``: the one formula of the pipeline, the
    SpikeInterface conversion and every reader, so trains round-trip bit for bit."""
    return np.asarray(samples, dtype=np.float64) * 1000.0 / float(fs)


def from_unit_indices(unit_indices: Any, times_ms: Any, N: int | None = None, **kwargs: Any) -> SpikeData:
    """Build from parallel arrays: the unit index and the time (ms) of every spike.

    Parameters
    ----------
    unit_indices : array-like of int
        Unit index (0..N-1) of each spike.
    times_ms : array-like of float
        Time of each spike in ms.
    N : int | None, default: None
        Number of units (default ``max(unit_indices) + 1``); units without spikes stay empty.
    **kwargs
        Passed to :class:`~spikelab.SpikeData` (``length``, ``neuron_attributes``, ...).

    Returns
    -------
    SpikeData
    """
    from spikelab.spikedata.spikedata import SpikeData

    idx = np.asarray(unit_indices).ravel()
    times = np.asarray(times_ms, dtype=np.float64).ravel()
    if idx.shape != times.shape:
        raise SpikeDataError(
            f"unit_indices has {idx.size} entries but times_ms has {times.size}; give one unit per spike."
        )
    if idx.size and (not np.issubdtype(idx.dtype, np.integer) or idx.min() < 0):
        raise SpikeDataError("unit_indices must be integers >= 0 (unit index of each spike).")
    n_units = int(idx.max()) + 1 if idx.size else 0
    if N is not None:
        if n_units > N:
            raise SpikeDataError(f"unit_indices goes up to {n_units - 1} but N={N}.")
        n_units = int(N)
    order = np.argsort(idx, kind="stable")
    bounds = np.searchsorted(idx[order], np.arange(n_units + 1))
    trains = [times[order[bounds[u] : bounds[u + 1]]] for u in range(n_units)]
    return SpikeData(trains, N=n_units, **kwargs)


def from_spikeinterface(
    sorting: Any, recording: Any = None, *, attach_raw_data: bool = False, segment_index: int = 0
) -> SpikeData:
    """Build from a SpikeInterface sorting (one segment), optionally with its recording.

    Parameters
    ----------
    sorting : spikeinterface.BaseSorting
        Spike times become ms (:func:`samples_to_ms`); each unit gets ``unit_id`` and the
        sorting's unit properties.
    recording : spikeinterface.BaseRecording | None, default: None
        Gives the length (``num_samples / fs``), ``metadata["channel_locations"]`` and
        ``channel_ids``; without it the length is the last spike time.
    attach_raw_data : bool, default: False
        Also load the recording's traces (µV when it has gains) as ``raw_data``.
    segment_index : int, default: 0

    Returns
    -------
    SpikeData
    """
    from spikelab.spikedata.spikedata import SpikeData

    fs = float(sorting.get_sampling_frequency())
    unit_ids = list(sorting.get_unit_ids())
    vector = sorting.to_spike_vector()
    vector = vector[vector["segment_index"] == segment_index]
    order = np.argsort(vector["unit_index"], kind="stable")
    bounds = np.searchsorted(vector["unit_index"][order], np.arange(len(unit_ids) + 1))
    samples = vector["sample_index"][order].astype(np.float64)
    trains = [samples_to_ms(samples[bounds[u] : bounds[u + 1]], fs) for u in range(len(unit_ids))]
    attributes: list[dict[str, Any]] = [{"unit_id": _plain(u)} for u in unit_ids]
    for key in sorting.get_property_keys():
        values = sorting.get_property(key)
        for attrs, value in zip(attributes, values):
            attrs.setdefault(key, _plain(value))
    metadata: dict[str, Any] = {"fs_Hz": fs, "source_format": "spikeinterface"}
    length = None
    raw_data = None
    if recording is not None:
        n_samples = recording.get_num_samples(segment_index=segment_index)
        length = n_samples / fs * 1000.0
        metadata["channel_ids"] = [_plain(c) for c in recording.get_channel_ids()]
        if recording.has_probe() or "location" in recording.get_property_keys():
            metadata["channel_locations"] = np.asarray(recording.get_channel_locations(), dtype=float)[:, :2]
        if attach_raw_data:
            scaled = recording.has_scaleable_traces()
            raw_data = recording.get_traces(segment_index=segment_index, return_in_uV=scaled).T
    return SpikeData(
        trains, length=length, neuron_attributes=attributes, metadata=metadata,
        raw_data=raw_data, raw_time=fs / 1000.0 if raw_data is not None else None,
    )


def to_spikeinterface(sd: SpikeData, fs_Hz: float | None = None) -> Any:
    """Convert to a SpikeInterface ``NumpySorting`` (times rounded to the nearest sample).

    Parameters
    ----------
    sd : SpikeData
    fs_Hz : float | None, default: None
        Sampling rate; defaults to ``sd.fs_Hz``.

    Returns
    -------
    spikeinterface.core.NumpySorting
        Unit ids from ``sd.unit_ids``; scalar neuron attributes become unit properties.
    """
    from spikeinterface.core import NumpySorting

    fs = fs_Hz or sd.fs_Hz
    if not fs:
        raise SpikeDataError("to_spikeinterface needs a sampling rate: pass fs_Hz or set metadata['fs_Hz'].")
    unit_ids = sd.unit_ids
    if len(set(unit_ids.tolist())) != sd.N:
        unit_ids = np.arange(sd.N)
    samples = {
        u: np.rint((t - sd.start_time) * fs / 1000.0).astype(np.int64) for u, t in zip(unit_ids.tolist(), sd.train)
    }
    sorting = NumpySorting.from_unit_dict([samples], sampling_frequency=fs)
    keys = set().union(*(a.keys() for a in sd.neuron_attributes)) if sd.N else set()
    for key in sorted(keys - {"unit_id"}):
        values = [a.get(key) for a in sd.neuron_attributes]
        if all(isinstance(v, (int, float, str, np.number)) and not isinstance(v, bool) for v in values):
            sorting.set_property(key, np.asarray(values))
    return sorting


def _plain(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value
