"""The report's PNG figures: unit footprints and quality distributions (kept vs removed)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import structlog

from spikelab.spike_sorting.report._data import FOOTPRINT_PNG, QUALITY_FIELDS, QUALITY_PNG

if TYPE_CHECKING:
    from spikelab.spikedata import SpikeData

log = structlog.get_logger("spikelab.report")

#: Which curation parameter draws a threshold line on which distribution.
_THRESHOLDS = {"snr": "min_snr", "std_norm": "max_std_norm", "firing_rate": "min_rate_hz",
               "isi_violation": "isi_max", "n_spikes": "min_spikes"}


def footprint_figure(sd: SpikeData, folder: Path, *, max_units: int, min_amplitude_uv: float, dpi: int) -> Path | None:
    """Footprints of the ``max_units`` largest units of ``sd`` (None when nothing can be drawn)."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    from spikelab.spikedata.plot_utils import plot_unit_footprints

    locations = sd.metadata.get("channel_locations")
    usable = [i for i, unit in enumerate(sd.neuron_attributes)
              if unit.get("template") is not None and unit.get("channel") is not None]
    if locations is None or not usable:
        return None
    usable.sort(key=lambda i: -float(sd.neuron_attributes[i].get("amplitude") or 0.0))
    chosen = usable[:max_units]
    ids = sd.unit_ids.tolist()
    fig = plot_unit_footprints(
        locations, [sd.neuron_attributes[i]["template"] for i in chosen],
        [int(sd.neuron_attributes[i]["channel"]) for i in chosen],
        unit_labels=[ids[i] for i in chosen], min_amplitude_uv=min_amplitude_uv, show_axes=False,
    )
    fig.suptitle(f"Footprints of the {len(chosen)} largest kept units (of {sd.N})", y=1.03)
    fig.set_dpi(dpi)
    path = folder / FOOTPRINT_PNG
    _save(fig, path, dpi)
    plt.close(fig)
    return path


def quality_figure(rows: list[dict[str, Any]], thresholds: dict[str, Any], folder: Path, *, dpi: int) -> Path | None:
    """Histograms of each quality field over all units, kept and removed stacked, thresholds dashed."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    fields = [f for f in QUALITY_FIELDS if any(_finite(r.get(f)) for r in rows)]
    if not fields:
        return None
    n_cols = min(3, len(fields))
    n_rows = math.ceil(len(fields) / n_cols)
    fig, axes = plt.subplots(n_rows, n_cols, figsize=(4.2 * n_cols, 3.2 * n_rows), squeeze=False)
    for ax, field in zip(axes.ravel(), fields):
        kept = [r[field] for r in rows if _finite(r.get(field)) and r.get("kept") is not False]
        removed = [r[field] for r in rows if _finite(r.get(field)) and r.get("kept") is False]
        values = np.array(kept + removed, dtype=float)
        bins = np.histogram_bin_edges(values, bins=min(30, max(5, values.size // 2)))
        ax.hist([kept, removed], bins=bins, stacked=True, color=["tab:blue", "tab:gray"],
                label=[f"kept ({len(kept)})", f"removed ({len(removed)})"])
        threshold = thresholds.get(_THRESHOLDS.get(field, ""))
        if _finite(threshold):
            ax.axvline(float(threshold), color="tab:red", ls="--", lw=1.2, label=f"threshold {threshold:g}")
        ax.set_xlabel(QUALITY_FIELDS[field])
        ax.set_ylabel("units")
        ax.legend(fontsize=8, frameon=False)
    for ax in axes.ravel()[len(fields):]:
        ax.set_visible(False)
    fig.suptitle("Unit quality before curation")
    fig.tight_layout()
    path = folder / QUALITY_PNG
    _save(fig, path, dpi)
    plt.close(fig)
    return path


def _finite(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _save(fig: Any, path: Path, dpi: int) -> None:
    from spikelab.atomic import atomic_open

    with atomic_open(path) as handle:
        fig.savefig(handle, dpi=dpi, bbox_inches="tight", format="png")
