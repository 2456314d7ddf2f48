"""Event-aligned spike trains: one slice per stimulation."""

from __future__ import annotations

from typing import Any

import attrs
import numpy as np

__all__ = ["SpikeSliceStack"]


def _freeze_trains(trains) -> tuple:
    return tuple(tuple(np.sort(np.asarray(t, dtype=float)) for t in event) for event in trains)


@attrs.frozen(eq=False)
class SpikeSliceStack:
    """Spike trains cut around each kept stimulation, with times relative to the stimulus.

    Attributes
    ----------
    trains : tuple of tuple of np.ndarray
        ``trains[event][unit]``: spike times in ms relative to that stimulation, within
        ``[-pre_ms, post_ms)``.
    stim_times_ms : np.ndarray
        Time of each kept stimulation on the recording clock (ms).
    pre_ms, post_ms : float
        Window before and after each stimulation.
    unit_ids : np.ndarray
        The sorter's unit id of each unit column.
    event_indices : np.ndarray
        Index of each kept stimulation in the stim-time list given to the constructor
        (events whose window leaves the recording are dropped).
    metadata : dict
        Free-form facts (sampling rate, recentring offsets, ...).
    """

    trains: tuple = attrs.field(converter=_freeze_trains)
    stim_times_ms: np.ndarray = attrs.field(converter=lambda x: np.asarray(x, dtype=float))
    pre_ms: float = attrs.field(converter=float)
    post_ms: float = attrs.field(converter=float)
    unit_ids: np.ndarray = attrs.field(converter=np.asarray)
    event_indices: np.ndarray = attrs.field(converter=lambda x: np.asarray(x, dtype=int))
    metadata: dict = attrs.field(factory=dict)

    def __attrs_post_init__(self):
        if len(self.trains) != self.stim_times_ms.size or self.event_indices.size != self.stim_times_ms.size:
            raise ValueError("`trains`, `stim_times_ms` and `event_indices` must have one entry per event.")
        if any(len(event) != self.unit_ids.size for event in self.trains):
            raise ValueError("Every event in `trains` must hold one array per unit in `unit_ids`.")

    # -- construction ----------------------------------------------------------------------
    @classmethod
    def from_spike_trains(cls, trains_ms, stim_times_ms, pre_ms, post_ms, *, recording_end_ms=None,
                          recording_start_ms=0.0, unit_ids=None, metadata=None) -> SpikeSliceStack:
        """Cut recording-clock spike trains (one array per unit, ms) around each stimulation.

        Events whose window ``[t - pre_ms, t + post_ms)`` leaves
        ``[recording_start_ms, recording_end_ms]`` are dropped.
        """
        pre, post = float(pre_ms), float(post_ms)
        if pre < 0 or post <= 0:
            raise ValueError(f"`pre_ms` must be >= 0 and `post_ms` > 0; got pre_ms={pre_ms}, post_ms={post_ms}.")
        times = np.asarray(stim_times_ms, dtype=float)
        keep = times - pre >= recording_start_ms
        if recording_end_ms is not None:
            keep &= times + post <= recording_end_ms
        trains_ms = [np.sort(np.asarray(t, dtype=float)) for t in trains_ms]
        sliced = []
        for t in times[keep]:
            event = []
            for train in trains_ms:
                lo, hi = np.searchsorted(train, [t - pre, t + post], side="left")
                event.append(train[lo:hi] - t)
            sliced.append(event)
        ids = np.arange(len(trains_ms)) if unit_ids is None else np.asarray(unit_ids)
        return cls(trains=sliced, stim_times_ms=times[keep], pre_ms=pre, post_ms=post, unit_ids=ids,
                   event_indices=np.flatnonzero(keep), metadata=dict(metadata or {}))

    # -- basic facts -----------------------------------------------------------------------
    @property
    def n_events(self) -> int:
        """Number of kept stimulations."""
        return len(self.trains)

    @property
    def n_units(self) -> int:
        """Number of units."""
        return int(self.unit_ids.size)

    def __len__(self) -> int:
        return self.n_events

    def spike_counts(self, start_ms: float | None = None, end_ms: float | None = None) -> np.ndarray:
        """(events, units) spike counts in ``[start_ms, end_ms)`` relative to the stimulus."""
        lo = -self.pre_ms if start_ms is None else float(start_ms)
        hi = self.post_ms if end_ms is None else float(end_ms)
        return np.array([[np.count_nonzero((t >= lo) & (t < hi)) for t in ev] for ev in self.trains],
                        dtype=int).reshape(self.n_events, self.n_units)

    def raster(self, unit: int) -> tuple[np.ndarray, np.ndarray]:
        """Spike times (ms, relative) and event index of every spike of unit column ``unit``."""
        self._check_unit(unit)
        times = [ev[unit] for ev in self.trains]
        rows = [np.full(t.size, i) for i, t in enumerate(times)]
        if not times:
            return np.zeros(0), np.zeros(0, dtype=int)
        return np.concatenate(times), np.concatenate(rows).astype(int)

    def psth(self, bin_ms: float = 1.0, units=None) -> tuple[np.ndarray, np.ndarray]:
        """Peri-stimulus time histogram averaged over events.

        Parameters
        ----------
        bin_ms : float, default: 1.0
            Bin width.
        units : sequence of int or None, default: None
            Unit columns to include (all when None).

        Returns
        -------
        bin_edges : np.ndarray
            (bins + 1,) edges in ms relative to the stimulus.
        rate_hz : np.ndarray
            (units, bins) mean firing rate in Hz.
        """
        if not bin_ms > 0:
            raise ValueError(f"`bin_ms` must be > 0; got {bin_ms!r}.")
        cols = np.arange(self.n_units) if units is None else np.atleast_1d(units)
        for u in cols:
            self._check_unit(int(u))
        n_bins = max(1, int(np.ceil((self.pre_ms + self.post_ms) / bin_ms)))
        edges = -self.pre_ms + np.arange(n_bins + 1) * bin_ms
        counts = np.zeros((cols.size, n_bins))
        for ev in self.trains:
            for row, u in enumerate(cols):
                counts[row] += np.histogram(ev[int(u)], bins=edges)[0]
        rate = counts / max(self.n_events, 1) / (bin_ms / 1000.0)
        return edges, rate

    def to_spikedata_list(self) -> list[Any]:
        """One :class:`~spikelab.SpikeData` per event, on a clock with the stimulus at 0 ms."""
        from spikelab import SpikeData

        attrs_per_unit = [{"unit_id": _plain(u)} for u in self.unit_ids]
        return [
            SpikeData(list(ev), N=self.n_units, start_time=-self.pre_ms, length=self.pre_ms + self.post_ms,
                      neuron_attributes=attrs_per_unit,
                      metadata={**self.metadata, "stim_time_ms": float(t), "event_index": int(i)})
            for ev, t, i in zip(self.trains, self.stim_times_ms, self.event_indices)
        ]

    # -- plots -----------------------------------------------------------------------------
    def plot_raster(self, unit: int, ax=None, **scatter_kwargs):
        """Raster of unit column ``unit``: one row per stimulation. Returns the axes."""
        import matplotlib.pyplot as plt

        ax = ax if ax is not None else plt.subplots()[1]
        times, rows = self.raster(unit)
        ax.scatter(times, rows, s=scatter_kwargs.pop("s", 4), marker=scatter_kwargs.pop("marker", "|"),
                   color=scatter_kwargs.pop("color", "black"), **scatter_kwargs)
        ax.axvline(0.0, color="tab:red", lw=0.8)
        ax.set(xlim=(-self.pre_ms, self.post_ms), ylim=(-0.5, self.n_events - 0.5),
               xlabel="time from stimulus (ms)", ylabel="stimulation", title=f"unit {_plain(self.unit_ids[unit])}")
        return ax

    def plot_psth(self, units=None, bin_ms: float = 1.0, ax=None):
        """Line plot of :meth:`psth` for ``units`` (all when None). Returns the axes."""
        import matplotlib.pyplot as plt

        ax = ax if ax is not None else plt.subplots()[1]
        edges, rate = self.psth(bin_ms=bin_ms, units=units)
        centers = (edges[:-1] + edges[1:]) / 2
        cols = np.arange(self.n_units) if units is None else np.atleast_1d(units)
        for row, u in enumerate(cols):
            ax.step(centers, rate[row], where="mid", label=f"unit {_plain(self.unit_ids[int(u)])}")
        ax.axvline(0.0, color="tab:red", lw=0.8)
        ax.set(xlabel="time from stimulus (ms)", ylabel="rate (Hz)")
        return ax

    def _check_unit(self, unit: int) -> None:
        if not -self.n_units <= unit < self.n_units:
            raise IndexError(f"Unit column {unit} is out of range for {self.n_units} units.")


def _plain(value):
    return value.item() if isinstance(value, np.generic) else value
