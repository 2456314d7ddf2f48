"""SpikeInterface folders: a sorting folder, and a SortingAnalyzer when the recording is known; read back.

The sorting's unit properties carry every per-unit value (position ``x``/``y``, primary
``channel``, SNR...), so ``spikeinterface.load(folder / "sorting")`` has them; what a sorting
cannot hold (recording length, channel positions, a concatenation's files, the curation history)
goes beside it in ``spikelab_facts.json``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import structlog

from spikelab.atomic import atomic_folder
from spikelab.errors import InputError
from spikelab.export._common import curation_history, dump_json, scalar_columns

if TYPE_CHECKING:
    from spikeinterface.core import BaseRecording

    from spikelab.spikedata import SpikeData

log = structlog.get_logger("spikelab.export")

FACTS_FILE = "spikelab_facts.json"
HISTORY_FILE = "spikelab_curation_history.json"


def export_to_spikeinterface(
    sd: SpikeData,
    folder: str | Path,
    recording: BaseRecording | str | Path | None = None,
    *,
    overwrite: bool = False,
    n_jobs: int = 1,
) -> Path:
    """Write ``folder/sorting`` (``spikeinterface.load`` opens it) and, with a recording,
    ``folder/analyzer`` (a SortingAnalyzer with templates, noise levels and quality metrics).

    Parameters
    ----------
    sd : SpikeData
        Units to export.
    folder : str or Path
        The folder to create.
    recording : BaseRecording, str or Path, optional
        For the analyzer (see :func:`~spikelab.export.phy.export_to_phy` for paths); without it
        only the sorting is written.
    overwrite : bool, default: False
        Replace an existing folder.
    n_jobs : int, default: 1
        Workers for SpikeInterface's chunked computations.

    Returns
    -------
    Path
        The folder; :func:`load_spikeinterface` reads it back.
    """
    import spikeinterface.core as sc

    if recording is not None:
        from spikelab.export._recording import resolve_recording

        recording = resolve_recording(sd, recording, purpose="The SortingAnalyzer")
    sorting = sd.to_spikeinterface()
    columns = scalar_columns(sd)
    for name in ("x", "y"):  # positions, also of units placed by their channel only
        if name in columns:
            sorting.set_property(name, columns[name])
    folder = Path(folder)
    with atomic_folder(folder, overwrite=overwrite) as staging:
        sorting.save(folder=staging / "sorting", format="numpy_folder")
        if recording is not None:
            analyzer = sc.create_sorting_analyzer(
                sorting, recording, format="binary_folder", folder=staging / "analyzer", sparse=True, seed=0
            )
            analyzer.compute(["random_spikes", "templates", "noise_levels"], n_jobs=n_jobs, progress_bar=False)
            analyzer.compute("quality_metrics", metric_names=["firing_rate", "isi_violation", "snr"])
        dump_json(staging / FACTS_FILE, {
            "fs_Hz": sd.fs_Hz, "length_ms": sd.length, "start_time_ms": sd.start_time,
            "metadata": {k: sd.metadata[k] for k in _CARRIED if sd.metadata.get(k) is not None},
        })
        history = curation_history(sd)
        if history is not None:
            dump_json(staging / HISTORY_FILE, history)
    log.info("exported", format="spikeinterface", folder=str(folder), units=sd.N)
    return folder


_CARRIED = ("channel_locations", "channel_ids", "rec_chunks_ms", "rec_chunk_names", "source_file", "sorter")


def load_spikeinterface(folder: str | Path) -> SpikeData:
    """Read a folder written by :func:`export_to_spikeinterface` (or a saved SpikeInterface sorting).

    Unit ids, spike trains and every unit property come from the sorting (so a person's edits in
    SpikeInterface, such as a ``quality`` property or removed units, are kept); length, channel
    positions and the curation history from ``spikelab_facts.json`` when it is there.
    """
    import spikeinterface as si

    from spikelab.spikedata import SpikeData

    folder = Path(folder)
    target = folder / "sorting" if (folder / "sorting").is_dir() else folder
    if not target.is_dir():
        raise InputError(f"No SpikeInterface sorting folder at {folder}.")
    sorting = si.load(target)
    facts = json.loads((folder / FACTS_FILE).read_text()) if (folder / FACTS_FILE).is_file() else {}
    sd = SpikeData.from_spikeinterface(sorting)
    metadata = dict(sd.metadata)
    metadata.update(facts.get("metadata") or {})
    if "channel_locations" in metadata:
        metadata["channel_locations"] = np.asarray(metadata["channel_locations"], dtype=float)
    metadata["source_format"] = "spikeinterface"
    if (folder / HISTORY_FILE).is_file():
        metadata["curation_history"] = json.loads((folder / HISTORY_FILE).read_text())
    attributes: list[dict[str, Any]] = sd.neuron_attributes
    for attrs in attributes:
        for key in ("n_spikes", "firing_rate"):  # describe the exported spikes; recomputed by whoever needs them
            attrs.pop(key, None)
    start = float(facts.get("start_time_ms") or 0.0)
    trains = [t + start for t in sd.train]
    length = facts.get("length_ms")
    last = max((float(t[-1]) for t in trains if len(t)), default=start) - start
    if length is not None and last > length:
        length = None
    return SpikeData(trains, length=length, start_time=start, neuron_attributes=attributes, metadata=metadata)
