"""phy: export for manual curation, and load the curated folder back.

Export goes through SpikeInterface's ``export_to_phy`` (templates, amplitudes, channel map and
positions, quality metrics), then adds SpikeLab's own per-unit columns as ``cluster_<name>.tsv``
files (phy shows them in its cluster view) and the curation history as
``spikelab_curation_history.json``.

Loading reads what the person did in phy: ``cluster_group.tsv`` labels, and merges and splits,
which phy records by giving spikes new cluster ids (``spike_clusters.npy``) while
``spike_templates.npy`` keeps the exported unit of every spike.
"""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import structlog

from spikelab.errors import InputError
from spikelab.export._common import atomic_folder, curation_history, dump_json, scalar_columns

if TYPE_CHECKING:
    from spikeinterface.core import BaseRecording

    from spikelab.spikedata import SpikeData

log = structlog.get_logger("spikelab.export")

HISTORY_FILE = "spikelab_curation_history.json"
UNITS_FILE = "spikelab_units.json"


def export_to_phy(
    sd: SpikeData,
    folder: str | Path,
    recording: BaseRecording | None = None,
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
    recording : BaseRecording, optional
        The recording the units were sorted from (phy shows its traces). Defaults to the
        recording folder recorded in ``sd.metadata["recording_folder"]`` by the pipeline.
    compute_pc_features : bool, default: False
        Also compute principal-component features (phy's feature view; slower).
    copy_binary : bool, default: True
        Copy the traces into the phy folder so it is self-contained.
    overwrite : bool, default: False
        Replace an existing folder.
    n_jobs : int, default: 1
        Workers for SpikeInterface's chunked computations.

    Returns
    -------
    Path
        The phy folder.
    """
    import spikeinterface.core as sc
    from spikeinterface.exporters import export_to_phy as si_export_to_phy

    recording = _resolve_recording(sd, recording)
    sorting = sd.to_spikeinterface()
    folder = Path(folder)
    with atomic_folder(folder, overwrite=overwrite) as staging:
        analyzer = sc.create_sorting_analyzer(sorting, recording, format="memory", sparse=True, seed=0)
        extensions = ["random_spikes", "templates", "noise_levels"]
        analyzer.compute(extensions, n_jobs=n_jobs, progress_bar=False)
        si_export_to_phy(
            analyzer,
            staging / "phy",
            compute_pc_features=compute_pc_features,
            compute_amplitudes=True,
            copy_binary=copy_binary,
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
        _write_unit_columns(sd, staging)
        history = curation_history(sd)
        if history is not None:
            dump_json(staging / HISTORY_FILE, history)
    log.info("exported", format="phy", folder=str(folder), units=sd.N)
    return folder


def _resolve_recording(sd: SpikeData, recording: BaseRecording | None) -> BaseRecording:
    if recording is not None:
        return recording
    source = sd.metadata.get("recording_folder")
    if source and Path(source).exists():
        import spikeinterface as si

        return si.load(source)
    raise InputError(
        "Exporting to phy needs the recording the units came from: pass recording=... "
        "(SpikeData from the pipeline records it in metadata['recording_folder'] while the "
        "intermediate folder is kept)."
    )


def _write_unit_columns(sd: SpikeData, folder: Path) -> None:
    cluster_ids = [int(u) for u in sd.to_spikeinterface().get_unit_ids()]
    for name, values in scalar_columns(sd).items():
        with open(folder / f"cluster_{name}.tsv", "w", newline="") as handle:
            writer = csv.writer(handle, delimiter="\t")
            writer.writerow(["cluster_id", name])
            for cluster, value in zip(cluster_ids, values):
                writer.writerow([cluster, "" if not np.isfinite(value) else f"{value:.6g}"])
    units = {
        str(cluster): {k: v for k, v in attributes.items() if isinstance(v, (int, float, str, bool))}
        for cluster, attributes in zip(cluster_ids, sd.neuron_attributes)
    }
    dump_json(folder / UNITS_FILE, {"fs_Hz": sd.fs_Hz, "length_ms": sd.length, "units": units})


def load_phy(folder: str | Path, *, exclude_groups: tuple[str, ...] = ("noise",)) -> SpikeData:
    """Read a phy folder, after manual curation, into a SpikeData.

    Parameters
    ----------
    folder : str or Path
        A phy folder (``params.py``, ``spike_times.npy``, ``spike_clusters.npy``...).
    exclude_groups : tuple of str, default: ("noise",)
        Cluster groups (phy labels) left out of the result.

    Returns
    -------
    SpikeData
        One unit per remaining phy cluster, with ``neuron_attributes["phy_group"]`` and
        ``"merged_from"`` (exported unit ids it contains); ``metadata["curation_history"]``
        records merges, splits, labels and removals in :meth:`SpikeData.build_curation_history`
        style, under the criterion names ``phy_merge``, ``phy_split`` and ``phy_group``.
    """
    from spikelab.spikedata import SpikeData

    folder = Path(folder)
    required = ["params.py", "spike_times.npy", "spike_clusters.npy"]
    missing = [name for name in required if not (folder / name).is_file()]
    if missing:
        raise InputError(f"{folder} is not a phy folder: {', '.join(missing)} missing.")
    fs = _sample_rate(folder / "params.py")
    samples = np.load(folder / "spike_times.npy").ravel().astype(np.int64)
    clusters = np.load(folder / "spike_clusters.npy").ravel().astype(np.int64)
    templates_file = folder / "spike_templates.npy"
    original = np.load(templates_file).ravel().astype(np.int64) if templates_file.is_file() else clusters
    groups = _read_tsv(folder / "cluster_group.tsv") or _read_tsv(folder / "cluster_KSLabel.tsv")
    exported = json.loads((folder / UNITS_FILE).read_text()) if (folder / UNITS_FILE).is_file() else {}
    exported_units = exported.get("units", {})

    kept_ids, trains, attributes, merged, removed = [], [], [], {}, []
    for cluster in np.unique(clusters):
        group = groups.get(int(cluster), "unsorted")
        sources = sorted(int(t) for t in np.unique(original[clusters == cluster]))
        if len(sources) > 1:
            merged[int(cluster)] = sources
        if group in exclude_groups:
            removed.append(int(cluster))
            continue
        spike_samples = np.sort(samples[clusters == cluster])
        base = dict(exported_units.get(str(cluster)) or (exported_units.get(str(sources[0]), {}) if len(sources) == 1 else {}))
        base.update({"unit_id": int(cluster), "phy_group": group, "merged_from": sources})
        kept_ids.append(int(cluster))
        trains.append(spike_samples.astype(np.float64) / fs * 1000.0)
        attributes.append(base)
    splits = {
        int(t): sorted(int(c) for c in np.unique(clusters[original == t]))
        for t in np.unique(original)
        if len(np.unique(clusters[original == t])) > 1
    }
    history = _history(sorted(int(t) for t in np.unique(original)), kept_ids, merged, splits, groups, removed)
    length = exported.get("length_ms")
    if length is None or (samples.size and samples.max() / fs * 1000.0 > length):
        length = None
    metadata: dict[str, Any] = {"fs_Hz": fs, "source_format": "phy", "curation_history": history}
    previous = folder / HISTORY_FILE
    if previous.is_file():
        metadata["previous_curation_history"] = json.loads(previous.read_text())
    return SpikeData(trains, length=length, neuron_attributes=attributes, metadata=metadata)


def _history(initial, final, merged, splits, groups, removed) -> dict[str, Any]:
    return {
        "curation_parameters": {"source": "phy"},
        "initial": initial,
        "curations": ["phy_merge", "phy_split", "phy_group"],
        "curated": {"phy_group": final},
        "failed": {"phy_group": removed},
        "merges": {str(k): v for k, v in merged.items()},
        "splits": {str(k): v for k, v in splits.items()},
        "groups": {str(k): v for k, v in sorted(groups.items())},
        "metrics": {},
        "curated_final": final,
    }


def _sample_rate(params: Path) -> float:
    # Parsed rather than executed: a params.py is code, and we only need one number.
    match = re.search(r"^\s*sample_rate\s*=\s*([0-9.eE+-]+)", params.read_text(), re.MULTILINE)
    if match is None:
        raise InputError(f"{params} has no sample_rate.")
    return float(match.group(1))


def _read_tsv(path: Path) -> dict[int, str]:
    if not path.is_file():
        return {}
    with open(path, newline="") as handle:
        rows = list(csv.reader(handle, delimiter="\t"))
    return {int(row[0]): row[1] for row in rows[1:] if len(row) >= 2 and row[0].strip()}
