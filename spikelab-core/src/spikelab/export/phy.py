"""phy: export for manual curation, and load the curated folder back.

Export goes through SpikeInterface's ``export_to_phy`` (templates, amplitudes, channel map and
positions, quality metrics), then adds SpikeLab's own per-unit columns as ``cluster_<name>.tsv``
files (phy shows them in its cluster view) and the curation history as
``spikelab_curation_history.json``.

:func:`load_phy` (in :mod:`spikelab.export._phy_read`) reads what the person did in phy back.
"""

from __future__ import annotations

import csv
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import structlog

from spikelab.atomic import atomic_folder
from spikelab.export._common import curation_history, dump_json, scalar_columns
from spikelab.export._phy_read import HISTORY_FILE, UNITS_FILE, load_phy, read_tsv

if TYPE_CHECKING:
    from spikeinterface.core import BaseRecording

    from spikelab.spikedata import SpikeData

log = structlog.get_logger("spikelab.export")

#: sd.metadata entries carried in spikelab_units.json (a concatenated recording's files...)
_CARRIED_METADATA = ("rec_chunks_ms", "rec_chunk_names", "source_file", "sorter", "channel_ids")


def export_to_phy(
    sd: SpikeData,
    folder: str | Path,
    recording: BaseRecording | str | Path | None = None,
    *,
    compute_pc_features: bool = False,
    copy_binary: bool = True,
    overwrite: bool = False,
    n_jobs: int = 1,
) -> Path:
    """Write a phy folder for ``sd``.

    Parameters
    ----------
    sd : SpikeData
        Units to export; ``metadata["fs_Hz"]`` is required.
    folder : str or Path
        The phy folder to create (``phy template-gui folder/params.py`` opens it).
    recording : BaseRecording, str or Path, optional
        The recording the units were sorted from (phy shows its traces): an object, the original
        file (opened with the pipeline's reader and the recorded stream and time window) or a
        saved SpikeInterface folder. Defaults to ``sd.metadata["recording_folder"]``, then
        ``sd.metadata["source_file"]``, both recorded by the pipeline.
    compute_pc_features : bool, default: False
        Also compute principal-component features (phy's feature view; slower).
    copy_binary : bool, default: True
        Copy the traces into the phy folder as ``recording.dat``; ``params.py`` then names it by a
        relative path, so the folder can be moved. With False, a binary recording is named by its
        absolute path (moving the phy folder keeps working; moving the binary does not).
    overwrite : bool, default: False
        Replace an existing folder.
    n_jobs : int, default: 1
        Workers for SpikeInterface's chunked computations.

    Returns
    -------
    Path
        The phy folder. Clusters are numbered 0..K-1 as phy and Kilosort expect;
        ``cluster_si_unit_ids.tsv`` and ``spikelab_units.json`` map them to ``sd.unit_ids``, and
        every ``cluster_<name>.tsv`` is filed under the cluster of its unit. Units without spikes
        have no cluster (they are listed in ``spikelab_units.json``).
    """
    import spikeinterface.core as sc
    from spikeinterface.exporters import export_to_phy as si_export_to_phy

    from spikelab.export._recording import resolve_recording

    recording = resolve_recording(sd, recording, purpose="Exporting to phy")
    sorting = sd.to_spikeinterface()
    folder = Path(folder)
    with atomic_folder(folder, overwrite=overwrite) as staging:
        analyzer = sc.create_sorting_analyzer(sorting, recording, format="memory", sparse=True, seed=0)
        extensions = ["random_spikes", "templates", "noise_levels"]
        analyzer.compute(extensions, n_jobs=n_jobs, progress_bar=False)
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="Empty units have been removed")
            si_export_to_phy(
                analyzer,
                staging / "phy",
                compute_pc_features=compute_pc_features,
                compute_amplitudes=True,
                copy_binary=copy_binary,
                use_relative_path=copy_binary,
                remove_if_exists=True,
                add_quality_metrics=False,
                add_template_metrics=False,
                verbose=False,
                n_jobs=n_jobs,
                progress_bar=False,
            )
        for item in (staging / "phy").iterdir():
            item.rename(staging / item.name)
        (staging / "phy").rmdir()
        _write_unit_columns(sd, staging, _cluster_of_unit(staging, sorting))
        history = curation_history(sd)
        if history is not None:
            dump_json(staging / HISTORY_FILE, history)
    log.info("exported", format="phy", folder=str(folder), units=sd.N)
    return folder


def _cluster_of_unit(folder: Path, sorting) -> dict[str, int]:
    """``{str(unit id): cluster id}`` as SpikeInterface numbered the clusters it wrote."""
    rows = read_tsv(folder / "cluster_si_unit_ids.tsv")
    if rows:
        return {str(row["si_unit_id"]): int(row["cluster_id"]) for row in rows}
    return {str(u): i for i, u in enumerate(sorting.get_unit_ids())}  # pragma: no cover - SI always writes it


def _write_unit_columns(sd: SpikeData, folder: Path, cluster_of: dict[str, int]) -> None:
    unit_keys = [str(u) for u in sd.to_spikeinterface().get_unit_ids()]
    rows = [(cluster_of[key], index) for index, key in enumerate(unit_keys) if key in cluster_of]
    rows.sort()
    for name, values in scalar_columns(sd).items():
        path = folder / f"cluster_{name}.tsv"
        if path.exists():  # SpikeInterface's own files (cluster_group.tsv...) win
            continue
        with open(path, "w", newline="") as handle:
            writer = csv.writer(handle, delimiter="\t")
            writer.writerow(["cluster_id", name])
            for cluster, index in rows:
                value = values[index]
                writer.writerow([cluster, "" if not np.isfinite(value) else f"{value:.9g}"])
    units = {
        str(cluster): {k: v for k, v in sd.neuron_attributes[index].items() if _plain_scalar(v)}
        | {"unit_id": _plain_id(sd.unit_ids[index])}
        for cluster, index in rows
    }
    empty = [_plain_id(sd.unit_ids[i]) for i, key in enumerate(unit_keys) if key not in cluster_of]
    facts = {key: sd.metadata.get(key) for key in _CARRIED_METADATA if sd.metadata.get(key) is not None}
    dump_json(folder / UNITS_FILE, {
        "fs_Hz": sd.fs_Hz, "length_ms": sd.length, "start_time_ms": sd.start_time,
        "units": units, "empty_units": empty, "metadata": facts,
    })


def _plain_scalar(value: Any) -> bool:
    return isinstance(value, (int, float, str, bool, np.integer, np.floating))


def _plain_id(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value


__all__ = ["export_to_phy", "load_phy"]
