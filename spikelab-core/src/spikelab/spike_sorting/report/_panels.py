"""Per-unit panel data for the HTML report: footprint, waveform, ISI, autocorrelogram, amplitudes.

Everything is computed here with numpy and stored as small JSON-ready numbers; the page draws
them in the browser, so a report of hundreds of units stays a few MB and renders in a second.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from spikelab.spikedata import SpikeData

#: Channels drawn in a unit's footprint at most (the largest, by peak-to-peak).
FOOTPRINT_CHANNELS = 12
#: Histogram ranges (ms) and bin widths (ms).
ISI_MAX_MS, ISI_BIN_MS = 50.0, 1.0
ACG_MAX_MS, ACG_BIN_MS = 50.0, 1.0
#: Points of the amplitude-over-time panel at most (evenly thinned).
MAX_AMPLITUDE_POINTS = 400


def _round(values: np.ndarray, digits: int = 1) -> list[float]:
    return [round(float(v), digits) if math.isfinite(float(v)) else 0.0 for v in np.ravel(values)]


def isi_histogram(train_ms: np.ndarray) -> list[int]:
    """Counts of inter-spike intervals in ``ISI_BIN_MS`` bins from 0 to ``ISI_MAX_MS``."""
    edges = np.arange(0.0, ISI_MAX_MS + ISI_BIN_MS, ISI_BIN_MS)
    return np.histogram(np.diff(np.sort(train_ms)), bins=edges)[0].astype(int).tolist()


def autocorrelogram(train_ms: np.ndarray) -> list[int]:
    """Counts of spike-to-spike lags in ``[-ACG_MAX_MS, ACG_MAX_MS]`` (zero lag excluded)."""
    times = np.sort(np.asarray(train_ms, dtype=float))
    edges = np.arange(-ACG_MAX_MS, ACG_MAX_MS + ACG_BIN_MS, ACG_BIN_MS)
    counts = np.zeros(edges.size - 1, dtype=int)
    for shift in range(1, times.size):
        lags = times[shift:] - times[:-shift]
        lags = lags[lags <= ACG_MAX_MS]
        if lags.size == 0:
            break
        counts += np.histogram(lags, bins=edges)[0] + np.histogram(-lags, bins=edges)[0]
    return counts.tolist()


def footprint(template: np.ndarray, channel: int, locations: np.ndarray) -> dict[str, Any]:
    """The unit's largest channels: positions (µm) and their template traces (µV)."""
    ptp = template.max(axis=1) - template.min(axis=1)
    order = np.argsort(-ptp)[:FOOTPRINT_CHANNELS]
    if channel not in order:
        order = np.concatenate([[channel], order[:-1]])
    return {"x": _round(locations[order, 0]), "y": _round(locations[order, 1]),
            "traces": [_round(template[c]) for c in order], "peak": int(np.flatnonzero(order == channel)[0])}


def spike_amplitudes(sd: SpikeData, index: int, channel: int, template: np.ndarray) -> dict[str, list[float]]:
    """Amplitude (µV, at the template's peak) of each spike with a stored snippet, against time (s)."""
    raw, raw_time = getattr(sd, "raw_data", None), getattr(sd, "raw_time", None)
    if raw is None or raw_time is None or np.size(raw) == 0:
        return {"t": [], "a": []}
    raw_time = np.asarray(raw_time, dtype=float)
    fs = float(sd.metadata.get("fs_Hz") or 0.0)
    if fs <= 0:
        return {"t": [], "a": []}
    before = int(round(float(sd.metadata.get("ms_before", 0.0)) * fs / 1000.0))
    offset_ms = (int(np.argmax(np.abs(template[channel]))) - before) * 1000.0 / fs
    times = np.asarray(sd.train[index], dtype=float) + offset_ms
    columns = np.clip(np.searchsorted(raw_time, times), 0, raw_time.size - 1)
    matched = np.abs(raw_time[columns] - times) < 0.5 * 1000.0 / fs
    times, columns = times[matched], columns[matched]
    if times.size > MAX_AMPLITUDE_POINTS:
        keep = np.linspace(0, times.size - 1, MAX_AMPLITUDE_POINTS).astype(int)
        times, columns = times[keep], columns[keep]
    return {"t": _round(times / 1000.0, 3), "a": _round(np.asarray(raw)[channel, columns])}


def unit_panels(sd: SpikeData) -> dict[str, dict[str, Any]]:
    """``{str(unit_id): panel data}`` for every unit of ``sd`` that has a template."""
    locations = sd.metadata.get("channel_locations")
    locations = None if locations is None else np.asarray(locations, dtype=float)
    fs = float(sd.metadata.get("fs_Hz") or 0.0)
    panels: dict[str, dict[str, Any]] = {}
    for index, (uid, unit) in enumerate(zip(sd.unit_ids.tolist(), sd.neuron_attributes)):
        train = np.asarray(sd.train[index], dtype=float)
        panel: dict[str, Any] = {"isi": isi_histogram(train), "acg": autocorrelogram(train)}
        template, channel = unit.get("template"), unit.get("channel")
        if template is not None and channel is not None:
            template = np.asarray(template, dtype=float)
            channel = int(channel)
            panel["waveform"] = _round(template[channel])
            panel["dt_ms"] = round(1000.0 / fs, 4) if fs > 0 else None
            if locations is not None and locations.shape[0] == template.shape[0]:
                panel["footprint"] = footprint(template, channel, locations)
            panel["amplitudes"] = spike_amplitudes(sd, index, channel, template)
        panels[str(uid)] = panel
    return panels
