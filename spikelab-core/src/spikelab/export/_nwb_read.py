"""Reading units from an NWB file: SpikeLab's own, or another tool's (pynwb, neuroconv/SpikeInterface).

What each fact comes from, in order:

- unit ids: the ``unit_name`` column (neuroconv and SpikeLab write it), else the table's ``id``;
- sampling rate: SpikeLab's scratch facts, else the units table's ``resolution`` (1/fs), else
  ``waveform_rate``, else the first ElectricalSeries' ``rate``;
- recording length and start: SpikeLab's facts, else the units' ``obs_intervals``, else the
  first ElectricalSeries, else the last spike;
- positions: ``x``/``y`` columns, else the units' ``electrodes`` (the largest waveform's
  electrode, or the only one) located by the electrodes table's ``rel_x``/``rel_y`` (or ``x``/``y``).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from spikelab.errors import InputError
from spikelab.spikedata.construct import samples_to_ms

FACTS = "spikelab_facts"
_SKIP = {"spike_times", "obs_intervals", "electrodes", "waveform_mean", "waveform_sd", "waveforms", "unit_name"}


def load_nwb(path: str | Path) -> Any:
    """Read units from an NWB file (written by :func:`~spikelab.export.nwb.export_to_nwb` or another tool).

    Spike times come back in ms; for files written by SpikeLab they are bit-identical to the
    exported ones (the sampling rate stored with them puts every spike back on its sample).

    Returns
    -------
    SpikeData
        ``unit_id``, every scalar column, ``x``/``y`` and ``channel`` per unit (``template`` in µV
        when the file has ``waveform_mean``); ``fs_Hz``, ``channel_locations`` and the curation
        history in ``metadata``.
    """
    from pynwb import NWBHDF5IO

    from spikelab.spikedata import SpikeData

    path = Path(path)
    if not path.is_file():
        raise InputError(f"No NWB file at {path}.")
    with NWBHDF5IO(str(path), "r") as io:
        nwbfile = io.read()
        if nwbfile.units is None:
            raise InputError(f"{path} has no units table.")
        facts = json.loads(nwbfile.scratch[FACTS].data) if FACTS in nwbfile.scratch else {}
        units = nwbfile.units
        table = units.to_dataframe(index=True)  # electrodes as row indices
        ids = units.id[:]
        waveform_scale = _to_uv(getattr(units, "waveform_unit", None))
        electrodes = nwbfile.electrodes.to_dataframe() if nwbfile.electrodes is not None else None
        series = _first_series(nwbfile)
        fs = facts.get("fs_Hz") or _rate(units, series)
        start_ms, length_ms = _span(units, facts, series)
    locations = _locations(electrodes)
    trains, attributes = [], []
    for position, (_, row) in enumerate(table.iterrows()):
        trains.append(_to_ms(np.asarray(row["spike_times"], dtype=np.float64), fs))
        attrs = _attributes(row, ids[position])
        attrs.update(_place(row, attrs, locations, waveform_scale))
        attributes.append(attrs)
    metadata: dict[str, Any] = {"source_format": "nwb", "nwb_path": str(path)}
    if fs:
        metadata["fs_Hz"] = float(fs)
    for key in ("curation_history", "rec_chunks_ms", "rec_chunk_names"):
        if facts.get(key) is not None:
            metadata[key] = facts[key]
    if locations is not None:
        metadata["channel_locations"] = locations
        if "channel_name" in electrodes.columns:
            metadata["channel_ids"] = [_plain_id(v) for v in electrodes["channel_name"]]
    last = max((float(t[-1]) for t in trains if len(t)), default=start_ms)
    if length_ms is not None and last > start_ms + length_ms + 1e-6:
        length_ms = None  # the intervals do not cover every spike: take the length from the spikes
    return SpikeData(trains, length=length_ms, start_time=start_ms, neuron_attributes=attributes, metadata=metadata)


def _first_series(nwbfile):
    from pynwb.ecephys import ElectricalSeries

    for item in nwbfile.acquisition.values():
        if isinstance(item, ElectricalSeries):
            return item
    return None


def _rate(units, series) -> float | None:
    resolution = getattr(units, "resolution", None)
    if resolution and resolution > 0:
        return float(np.round(1.0 / resolution, 6))
    if getattr(units, "waveform_rate", None):
        return float(units.waveform_rate)
    if series is not None and series.rate:
        return float(series.rate)
    return None


def _span(units, facts: dict[str, Any], series) -> tuple[float, float | None]:
    if facts.get("length_ms") is not None:
        return float(facts.get("start_time_ms") or 0.0), float(facts["length_ms"])
    if "obs_intervals" in units.colnames:
        intervals = [np.asarray(units.get_unit_obs_intervals(i), dtype=float).reshape(-1, 2) for i in range(len(units))]
        intervals = [i for i in intervals if i.size]
        if intervals:
            stacked = np.concatenate(intervals)
            return float(stacked[:, 0].min() * 1000.0), float((stacked[:, 1].max() - stacked[:, 0].min()) * 1000.0)
    if series is not None and series.rate:
        start = float(series.starting_time or 0.0)
        return start * 1000.0, series.data.shape[0] / float(series.rate) * 1000.0
    return 0.0, None


def _to_ms(seconds: np.ndarray, fs: float | None) -> np.ndarray:
    if fs:
        samples = np.rint(seconds * fs)
        if np.all(np.abs(samples / fs - seconds) < 0.25 / fs):
            return samples_to_ms(samples, fs)
    return seconds * 1000.0


def _attributes(row, table_id: Any) -> dict[str, Any]:
    name = row.get("unit_name")
    out: dict[str, Any] = {"unit_id": _plain_id(name if name is not None else table_id)}
    for key, value in row.items():
        if key in _SKIP or value is None:
            continue
        if isinstance(value, (float, np.floating)) and not np.isfinite(value):
            continue
        if isinstance(value, (np.ndarray, list, tuple)):
            continue
        out[key] = value.item() if isinstance(value, np.generic) else value
    if "channel" in out:
        out["channel"] = int(out["channel"])
    return out


def _place(row, attrs: dict[str, Any], locations: np.ndarray | None, waveform_scale: float) -> dict[str, Any]:
    """``template`` (µV, every channel) and, when missing, ``channel``, ``x`` and ``y`` from the electrodes."""
    out: dict[str, Any] = {}
    rows = (
        np.asarray(row["electrodes"], dtype=np.int64).ravel()
        if "electrodes" in row and row["electrodes"] is not None
        else np.zeros(0, np.int64)
    )
    waveform = row.get("waveform_mean")
    peak = None
    if waveform is not None and np.ndim(waveform) >= 1:
        waveform = np.asarray(waveform, dtype=np.float64) * waveform_scale
        waveform = waveform.reshape(waveform.shape[0], -1)  # (samples, electrodes)
        if rows.size == waveform.shape[1] and locations is not None:
            template = np.zeros((len(locations), waveform.shape[0]), dtype=np.float32)
            template[rows] = waveform.T
            peak = int(rows[np.argmax(np.ptp(waveform, axis=0))])
        else:
            template = waveform.T.astype(np.float32)
        out["template"] = template
    if "channel" not in attrs:
        if peak is not None:
            out["channel"] = peak
        elif rows.size == 1:
            out["channel"] = int(rows[0])
    if locations is not None and not {"x", "y"} <= set(attrs):
        channel = out.get("channel", attrs.get("channel"))
        if channel is not None and 0 <= int(channel) < len(locations):
            out["x"], out["y"] = (float(v) for v in locations[int(channel)])
        elif rows.size:
            out["x"], out["y"] = (float(v) for v in locations[rows].mean(axis=0))
    return out


def _locations(electrodes) -> np.ndarray | None:
    if electrodes is None or len(electrodes) == 0:
        return None
    for columns in (("rel_x", "rel_y"), ("x", "y")):
        if set(columns) <= set(electrodes.columns):
            values = electrodes[list(columns)].to_numpy(dtype=float)
            if np.all(np.isfinite(values)):
                return values
    return None


def _to_uv(unit: str | None) -> float:
    return {"volts": 1e6, "volt": 1e6, "v": 1e6, "millivolts": 1e3, "mv": 1e3}.get(str(unit or "volts").lower(), 1.0)


def _plain_id(value: Any) -> Any:
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, bytes):
        value = value.decode()
    if isinstance(value, str) and value.lstrip("-").isdigit():
        return int(value)
    return value
