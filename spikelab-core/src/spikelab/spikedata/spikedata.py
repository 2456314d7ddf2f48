"""The :class:`SpikeData` container: spike trains in ms plus per-unit and per-recording facts."""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from spikelab.spikedata._methods import CurationMethods
from spikelab.spikedata.errors import SpikeDataError


class SpikeData(CurationMethods):
    """Spike trains of ``N`` units over ``length`` ms, with what curation needs about each unit.

    Parameters
    ----------
    train : sequence of array-like
        One array of spike times (ms) per unit. Copied and sorted; times must be finite and
        lie in ``[start_time, start_time + length]``.
    N : int | None, default: None
        Number of units; must equal ``len(train)`` when given (``train=[]`` with ``N=k``
        makes ``k`` silent units).
    length : float | None, default: None
        Duration in ms. Defaults to the last spike time (or the end of ``raw_time``, if later)
        minus ``start_time``.
    start_time : float, default: 0.0
        Time (ms) at which the recording starts.
    neuron_attributes : sequence of dict | None, default: None
        One dict per unit (see "Attribute contract"). Missing means empty dicts.
    metadata : mapping | None, default: None
        Facts about the recording (see "Attribute contract").
    raw_data : array-like | None, default: None
        Voltage traces, ``(channels, samples)``, in µV, used to compute waveform metrics.
    raw_time : array-like | float | None, default: None
        Time (ms) of every column of ``raw_data``, or the sampling rate in kHz (then the
        times are ``start_time + arange(samples) / rate``). Defaults to
        ``metadata["fs_Hz"]`` when that is given.

    Notes
    -----
    **Attribute contract.** What the sorting pipeline (and anyone building a SpikeData by
    hand) attaches so that every curation method works without extra steps. All keys are
    optional unless a method needs them.

    ``neuron_attributes[i]`` (one dict per unit):

    - ``unit_id`` : int -- the sorter's unit id (used in histories and ``to_spikeinterface``).
    - ``channel`` : int -- primary channel, a row index of ``raw_data`` and of
      ``metadata["channel_locations"]``.
    - ``x``, ``y`` : float -- unit position in µm (or ``position``: ``(x, y)``); if absent the
      primary channel's location is used.
    - ``template`` : ndarray ``(channels, samples)`` -- mean waveform on every channel, µV.
    - ``avg_waveform`` : ndarray ``(samples,)`` -- mean waveform on the primary channel, µV.
    - ``snr``, ``std_norm`` : float -- waveform metrics (see :mod:`spikelab.spikedata.waveforms`).
    - ``epoch_templates`` : list of ``(channels, samples)`` arrays, one per ``rec_chunks_ms``
      entry (optional; :meth:`split_epochs` turns each into that epoch's ``template``).

    ``metadata``:

    - ``fs_Hz`` : float -- sampling rate of the recording.
    - ``channel_locations`` : ndarray ``(channels, 2)`` in µm.
    - ``ms_before`` : float -- ms of each template before the spike time (default 1.0).
    - ``rec_chunks_ms`` : list of ``(start_ms, end_ms)`` -- the files of a concatenated
      recording; ``rec_chunk_names`` : list of str, their names.
    - ``raw_data_filtered`` : bool -- True when ``raw_data`` is already band-pass filtered, so
      :meth:`compute_waveform_metrics` does not filter it again.
    - ``noise_levels_uv`` : ndarray ``(channels,)`` -- set by :meth:`compute_waveform_metrics`.

    ``raw_data`` may cover only parts of the recording (snippets): ``raw_time`` then gives the
    time of every column and waveform metrics use the spikes whose window lies on contiguous
    samples. Spike times, ``length`` and ``raw_time`` are all in ms.

    Examples
    --------
    >>> sd = SpikeData([[1.0, 5.0], [2.5]], length=10.0)
    >>> sd.N, sd.length
    (2, 10.0)
    """

    def __init__(
        self,
        train: Sequence[Iterable[float]],
        *,
        N: int | None = None,
        length: float | None = None,
        start_time: float = 0.0,
        neuron_attributes: Sequence[Mapping[str, Any]] | None = None,
        metadata: Mapping[str, Any] | None = None,
        raw_data: Any = None,
        raw_time: Any = None,
    ) -> None:
        trains = [_as_train(unit_train, index) for index, unit_train in enumerate(train)]
        if N is not None:
            if len(trains) == 0:
                trains = [np.empty(0) for _ in range(int(N))]
            elif len(trains) != N:
                raise SpikeDataError(f"N={N} but {len(trains)} spike trains were given; drop N or fix train.")
        self.train: list[np.ndarray] = trains
        self.start_time = float(start_time)
        self.metadata: dict[str, Any] = dict(metadata or {})
        self.neuron_attributes: list[dict[str, Any]] = _as_attributes(neuron_attributes, len(trains))
        self.raw_data, self.raw_time = _as_raw(raw_data, raw_time, self.start_time, self.metadata)
        self.length = _as_length(length, trains, self.start_time, self.raw_time)
        _check_bounds(trains, self.start_time, self.length)

    # -- basic facts -----------------------------------------------------------------------
    @property
    def N(self) -> int:  # noqa: N802 (the guide's name)
        """Number of units."""
        return len(self.train)

    @property
    def unit_ids(self) -> np.ndarray:
        """``neuron_attributes["unit_id"]`` of every unit, or ``0..N-1`` if any unit lacks one."""
        ids = [attrs.get("unit_id") for attrs in self.neuron_attributes]
        if self.N and all(i is not None for i in ids):
            return np.asarray(ids)
        return np.arange(self.N)

    @property
    def spike_counts(self) -> np.ndarray:
        """Number of spikes of every unit, ``(N,)``."""
        return np.array([len(t) for t in self.train], dtype=np.int64)

    @property
    def fs_Hz(self) -> float | None:  # noqa: N802
        """Sampling rate from ``metadata["fs_Hz"]``, else from ``raw_time``, else None."""
        if self.metadata.get("fs_Hz"):
            return float(self.metadata["fs_Hz"])
        if self.raw_time.size > 1:
            return float(1000.0 / np.median(np.diff(self.raw_time)))
        return None

    @property
    def has_raw_data(self) -> bool:
        """True when ``raw_data`` has at least one channel and one sample."""
        return self.raw_data.size > 0

    @property
    def unit_locations(self) -> np.ndarray:
        """Unit positions ``(N, 2)`` in µm from ``x``/``y``, ``position`` or the primary channel.

        Raises
        ------
        SpikeDataError
            If a unit has no position and no ``channel`` with ``metadata["channel_locations"]``.
        """
        channel_locations = self.metadata.get("channel_locations")
        out = np.zeros((self.N, 2))
        for i, attrs in enumerate(self.neuron_attributes):
            if "x" in attrs and "y" in attrs:
                out[i] = attrs["x"], attrs["y"]
            elif attrs.get("position") is not None:
                out[i] = np.asarray(attrs["position"], dtype=float)[:2]
            elif attrs.get("location") is not None:
                out[i] = np.asarray(attrs["location"], dtype=float)[:2]
            elif attrs.get("channel") is not None and channel_locations is not None:
                out[i] = np.asarray(channel_locations, dtype=float)[int(attrs["channel"])][:2]
            else:
                raise SpikeDataError(
                    f"Unit {i} has no position: set neuron_attributes[{i}]['x'] and ['y'] (µm), "
                    "or 'channel' together with metadata['channel_locations']."
                )
        return out

    def __repr__(self) -> str:
        raw = f", raw_data={self.raw_data.shape}" if self.has_raw_data else ""
        return f"SpikeData(N={self.N}, length={self.length:.1f} ms{raw})"

    # -- derived SpikeData ----------------------------------------------------------------
    def _replace(self, **changes: Any) -> SpikeData:
        """A new SpikeData sharing raw arrays, with some constructor arguments changed."""
        same_raw = "raw_data" not in changes and "raw_time" not in changes
        fields = dict(
            train=self.train,
            length=self.length,
            start_time=self.start_time,
            neuron_attributes=[dict(a) for a in self.neuron_attributes],
            metadata=copy.copy(self.metadata),
            raw_data=None if same_raw else self.raw_data,
            raw_time=None if same_raw else self.raw_time,
        )
        fields.update(changes)
        new = SpikeData(fields.pop("train"), **fields)
        if same_raw:  # already validated: share them without checking millions of samples again
            new.raw_data, new.raw_time = self.raw_data, self.raw_time
        return new

    def subset(self, units: Any, by: str | None = None) -> SpikeData:
        """Keep some units, in the order given.

        Parameters
        ----------
        units : array-like of int or bool
            Unit indices, a boolean mask of length ``N``, or values of ``by``.
        by : str | None, default: None
            A ``neuron_attributes`` key (e.g. ``"unit_id"``) to select units by its value.

        Returns
        -------
        SpikeData
            Same length, metadata and raw data; only the selected units.
        """
        indices = self._indices(units, by)
        return self._replace(
            train=[self.train[i] for i in indices],
            neuron_attributes=[dict(self.neuron_attributes[i]) for i in indices],
        )

    def _indices(self, units: Any, by: str | None) -> np.ndarray:
        units = np.asarray(units if units is not None else [])
        if by is not None:
            values = [a.get(by) for a in self.neuron_attributes]
            lookup = {v: i for i, v in enumerate(values)}
            missing = [u for u in units.tolist() if u not in lookup]
            if missing:
                raise SpikeDataError(f"No unit has {by}={missing}; known values: {values}.")
            return np.array([lookup[u] for u in units.tolist()], dtype=np.int64)
        if units.dtype == bool:
            if units.shape != (self.N,):
                raise SpikeDataError(f"Boolean unit mask has shape {units.shape}, expected ({self.N},).")
            return np.flatnonzero(units)
        indices = units.astype(np.int64).ravel()
        if indices.size and (indices.min() < -self.N or indices.max() >= self.N):
            raise SpikeDataError(f"Unit index out of range for N={self.N}: {indices.tolist()}.")
        return indices % max(self.N, 1)

    def subtime(self, start: float, end: float, shift_to_zero: bool = True) -> SpikeData:
        """Keep spikes (and raw samples) in ``[start, end)`` ms.

        Parameters
        ----------
        start, end : float
            Window in ms on this SpikeData's clock.
        shift_to_zero : bool, default: True
            Shift times so the window starts at t=0.

        Returns
        -------
        SpikeData
        """
        if not end > start:
            raise SpikeDataError(f"subtime needs end > start, got start={start}, end={end}.")
        offset = start if shift_to_zero else 0.0
        train = [t[(t >= start) & (t < end)] - offset for t in self.train]
        keep = (self.raw_time >= start) & (self.raw_time < end)
        raw_data = self.raw_data[:, keep] if self.has_raw_data else None
        raw_time = self.raw_time[keep] - offset if self.has_raw_data else None
        return self._replace(
            train=train, length=end - start, start_time=start - offset, raw_data=raw_data, raw_time=raw_time
        )

    def split_epochs(self) -> list[SpikeData]:
        """Split a concatenated recording back into one SpikeData per file.

        Uses ``metadata["rec_chunks_ms"]`` (``(start_ms, end_ms)`` per file, set by the sorting
        pipeline); every epoch is shifted to start at t=0, gets ``metadata["epoch_index"]`` and
        ``metadata["source_file"]`` (from ``rec_chunk_names``) and, when units carry
        ``epoch_templates``, that epoch's ``template`` and ``avg_waveform``.

        Returns
        -------
        list of SpikeData

        Raises
        ------
        SpikeDataError
            If ``metadata["rec_chunks_ms"]`` is missing or empty.
        """
        from spikelab.spikedata.epochs import split_epochs

        return split_epochs(self)

    # -- conversion and storage -------------------------------------------------------------
    @classmethod
    def from_unit_indices(cls, unit_indices: Any, times_ms: Any, N: int | None = None, **kwargs: Any) -> SpikeData:
        """Build from parallel arrays of unit index and spike time (ms); see :mod:`.construct`."""
        from spikelab.spikedata.construct import from_unit_indices

        return from_unit_indices(unit_indices, times_ms, N=N, **kwargs)

    @classmethod
    def from_spikeinterface(cls, sorting: Any, recording: Any = None, **kwargs: Any) -> SpikeData:
        """Build from a SpikeInterface sorting (and optionally its recording); see :mod:`.construct`."""
        from spikelab.spikedata.construct import from_spikeinterface

        return from_spikeinterface(sorting, recording, **kwargs)

    def to_spikeinterface(self, fs_Hz: float | None = None) -> Any:
        """Convert to a SpikeInterface ``NumpySorting``; see :func:`.construct.to_spikeinterface`."""
        from spikelab.spikedata.construct import to_spikeinterface

        return to_spikeinterface(self, fs_Hz=fs_Hz)

    def save(self, path: str | Path) -> Path:
        """Write to ``.pkl`` or ``.npz`` (atomically); see :func:`spikelab.spikedata.io.save`."""
        from spikelab.spikedata.io import save

        return save(self, path)

    @classmethod
    def load(cls, path: str | Path) -> SpikeData:
        """Read a ``.pkl``/``.npz`` written by :meth:`save`, an NWB file or a phy folder.

        See :func:`spikelab.spikedata.io.load`.
        """
        from spikelab.spikedata.io import load

        return load(path)


# -- validation helpers -------------------------------------------------------------------------
def _as_train(values: Iterable[float], index: int) -> np.ndarray:
    try:
        arr = np.array(values, dtype=np.float64).ravel()
    except (TypeError, ValueError) as exc:
        raise SpikeDataError(f"Spike train of unit {index} is not numeric ({exc}); pass spike times in ms.") from exc
    if not np.all(np.isfinite(arr)):
        bad = int(np.count_nonzero(~np.isfinite(arr)))
        raise SpikeDataError(
            f"Spike train of unit {index} has {bad} NaN/inf times; remove them before building SpikeData."
        )
    arr.sort(kind="stable")
    return arr


def _as_attributes(attributes: Sequence[Mapping[str, Any]] | None, n: int) -> list[dict[str, Any]]:
    if attributes is None:
        return [{} for _ in range(n)]
    out = [dict(a) for a in attributes]
    if len(out) != n:
        raise SpikeDataError(
            f"neuron_attributes has {len(out)} entries but there are {n} units; give one dict per unit."
        )
    return out


def _as_raw(
    raw_data: Any, raw_time: Any, start_time: float, metadata: Mapping[str, Any]
) -> tuple[np.ndarray, np.ndarray]:
    if raw_data is None or np.size(raw_data) == 0:
        return np.zeros((0, 0), dtype=np.float32), np.zeros(0)
    data = np.asarray(raw_data)
    if data.ndim != 2:
        raise SpikeDataError(f"raw_data must be 2-D (channels, samples), got shape {data.shape}.")
    n_samples = data.shape[1]
    if raw_time is None and metadata.get("fs_Hz"):
        raw_time = float(metadata["fs_Hz"]) / 1000.0
    if raw_time is None:
        raise SpikeDataError(
            "raw_data was given without raw_time: pass raw_time (ms per sample, or rate in kHz) or metadata['fs_Hz']."
        )
    if np.ndim(raw_time) == 0:
        rate_khz = float(raw_time)
        if not rate_khz > 0:
            raise SpikeDataError(f"raw_time as a sampling rate must be > 0 kHz, got {raw_time}.")
        times = start_time + np.arange(n_samples) / rate_khz
    else:
        times = np.asarray(raw_time, dtype=np.float64).ravel()
        if times.size != n_samples:
            raise SpikeDataError(f"raw_time has {times.size} values but raw_data has {n_samples} samples (columns).")
        if times.size > 1 and np.any(np.diff(times) <= 0):
            raise SpikeDataError("raw_time must be strictly increasing (ms per raw_data column).")
    return data, times


def _as_length(length: float | None, trains: list[np.ndarray], start_time: float, raw_time: np.ndarray) -> float:
    if length is None:
        last = max((t[-1] for t in trains if t.size), default=start_time)
        if raw_time.size:
            last = max(last, raw_time[-1])
        return float(last - start_time)
    length = float(length)
    if not np.isfinite(length) or length < 0:
        raise SpikeDataError(f"length must be a finite number of ms >= 0, got {length}.")
    return length


def _check_bounds(trains: list[np.ndarray], start_time: float, length: float) -> None:
    end = start_time + length
    # A spike exactly at the end is allowed; allow float noise of a nanosecond.
    tolerance = 1e-6
    for index, t in enumerate(trains):
        if t.size and (t[0] < start_time - tolerance or t[-1] > end + tolerance):
            raise SpikeDataError(
                f"Unit {index} has spikes outside [{start_time}, {end}] ms "
                f"(first {t[0]:.3f}, last {t[-1]:.3f}); pass a larger length or drop those spikes."
            )
