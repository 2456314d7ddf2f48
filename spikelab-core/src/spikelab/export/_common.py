"""Pieces shared by the exporters: per-unit tables, the curation history, atomic folders."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from spikelab.atomic import write_json

if TYPE_CHECKING:
    from spikelab.spikedata import SpikeData

#: Scalar per-unit attributes carried as quality-metric columns when present.
METRIC_KEYS = ("snr", "std_norm", "firing_rate", "isi_violation", "n_spikes", "amplitude")


def scalar_columns(sd: SpikeData) -> dict[str, np.ndarray]:
    """Per-unit numeric columns: position, primary channel and any metric the units carry."""
    columns: dict[str, np.ndarray] = {}
    locations = _locations_or_none(sd)
    if locations is not None:
        columns["x"], columns["y"] = locations[:, 0], locations[:, 1]
    keys = set().union(*(a.keys() for a in sd.neuron_attributes)) if sd.N else set()
    for key in ["channel", *METRIC_KEYS, *sorted(keys)]:
        if key in columns or key in ("unit_id", "x", "y"):
            continue
        values = [a.get(key) for a in sd.neuron_attributes]
        if all(isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, bool) for v in values):
            columns[key] = np.asarray(values, dtype=float)
    columns["n_spikes"] = np.asarray([len(t) for t in sd.train], dtype=float)
    if sd.length > 0:
        columns["firing_rate"] = columns["n_spikes"] / (sd.length / 1000.0)
    return columns


def _locations_or_none(sd: SpikeData) -> np.ndarray | None:
    try:
        locations = np.asarray(sd.unit_locations, dtype=float)
    except Exception:
        return None
    return locations if locations.shape == (sd.N, 2) else None


def templates(sd: SpikeData) -> np.ndarray | None:
    """``(units, samples, channels)`` templates from ``neuron_attributes["template"]``, or None."""
    found = [a.get("template") for a in sd.neuron_attributes]
    if not sd.N or any(t is None for t in found):
        return None
    arrays = [np.asarray(t, dtype=np.float32) for t in found]
    if len({a.shape for a in arrays}) != 1:
        return None
    return np.stack([a.T for a in arrays])


def curation_history(sd: SpikeData) -> dict[str, Any] | None:
    history = sd.metadata.get("curation_history")
    return history if isinstance(history, dict) else None


def dump_json(path: Path, data: Any) -> None:
    """Write ``data`` as indented JSON to ``path`` atomically (fsynced), through SpikeLab's encoder."""
    write_json(path, data, indent=2, sort_keys=False)
