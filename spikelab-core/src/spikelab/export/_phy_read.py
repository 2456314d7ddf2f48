"""Reading a phy folder (ours, SpikeInterface's or Kilosort's), after manual curation, into a SpikeData.

phy records what a person did in three places: ``cluster_group.tsv`` (labels), the other
``cluster_<field>.tsv`` files (values per cluster), and ``spike_clusters.npy``, where merges and
splits give spikes *new* cluster ids while ``spike_templates.npy`` keeps the exported cluster of
every spike. A cluster whose id is an exported cluster and whose spikes all come from it is an
unchanged unit: it gets back its exported unit id (``spikelab_units.json`` or
``cluster_si_unit_ids.tsv``) and values. A merged or split cluster gets a fresh unit id that no
exported unit has, keeps only phy's labels (its metrics described other spikes), and takes its
position and primary channel from the units its spikes came from.
"""

from __future__ import annotations

import ast
import csv
import json
from pathlib import Path
from typing import Any

import numpy as np

from spikelab.errors import InputError
from spikelab.spikedata.construct import samples_to_ms

HISTORY_FILE = "spikelab_curation_history.json"
UNITS_FILE = "spikelab_units.json"
#: cluster_*.tsv files that are not per-unit values.
_NOT_VALUES = ("cluster_group.tsv", "cluster_info.tsv", "cluster_KSLabel.tsv", "cluster_si_unit_ids.tsv")
#: values recomputed from the spikes, never taken from a file
_RECOMPUTED = ("n_spikes", "firing_rate")


def load_phy(folder: str | Path, *, exclude_groups: tuple[str, ...] = ("noise",)) -> Any:
    """Read a phy folder, after manual curation, into a SpikeData.

    Parameters
    ----------
    folder : str or Path
        A phy folder (``params.py``, ``spike_times.npy``, ``spike_clusters.npy``...), written by
        :func:`~spikelab.export.phy.export_to_phy`, SpikeInterface's ``export_to_phy`` or Kilosort.
    exclude_groups : tuple of str, default: ("noise",)
        Cluster groups (phy labels) left out of the result.

    Returns
    -------
    SpikeData
        One unit per remaining phy cluster, with ``neuron_attributes`` ``unit_id`` (the exported
        id for unchanged clusters, a fresh one for merges and splits), ``phy_cluster_id``,
        ``phy_group``, ``merged_from`` (exported unit ids its spikes come from), ``x``/``y``
        and ``channel``, and the values of ``cluster_<field>.tsv``. ``metadata`` has ``fs_Hz``,
        ``channel_locations`` and ``curation_history`` (merges, splits, labels and removals, by
        unit id, under the criteria ``phy_merge``, ``phy_split`` and ``phy_group``).
    """
    from spikelab.spikedata import SpikeData

    folder = Path(folder)
    phy = _PhyFolder(folder)
    exported = json.loads((folder / UNITS_FILE).read_text()) if (folder / UNITS_FILE).is_file() else {}
    exported_units = exported.get("units", {})
    values = _cluster_values(folder)
    groups = {
        c: str(v) for c, v in (_column(folder / "cluster_group.tsv") or _column(folder / "cluster_KSLabel.tsv")).items()
    }
    template_ids = sorted({int(t) for t in np.unique(phy.templates)} | {int(c) for c in exported_units})
    unit_of_template = {t: _exported_id(t, exported_units, values) for t in template_ids}
    fresh = _FreshIds(unit_of_template.values())
    start_ms = float(exported.get("start_time_ms") or 0.0)

    trains, attributes, merges, removed, unit_of_cluster = [], [], {}, [], {}
    for cluster in (int(c) for c in np.unique(phy.clusters)):
        mask = phy.clusters == cluster
        sources, counts = np.unique(phy.templates[mask], return_counts=True)
        unchanged = sources.tolist() == [cluster]
        unit_id = unit_of_template[cluster] if unchanged else fresh.next(cluster)
        unit_of_cluster[cluster] = unit_id
        source_ids = [unit_of_template[int(t)] for t in sources]
        if len(sources) > 1:
            merges[unit_id] = source_ids
        group = groups.get(cluster, "unsorted")
        if group in exclude_groups:
            removed.append(unit_id)
            continue
        attrs = _attributes(cluster, unchanged, exported_units, values)
        attrs.update(_place(phy, exported_units, values, sources, counts, attrs if unchanged else {}))
        attrs.update(unit_id=unit_id, phy_cluster_id=cluster, phy_group=group, merged_from=source_ids)
        trains.append(samples_to_ms(np.sort(phy.samples[mask]), phy.fs) + start_ms)
        attributes.append(attrs)
    splits = {}
    for template in (int(t) for t in np.unique(phy.templates)):
        children = sorted(
            {unit_of_cluster[int(c)] for c in np.unique(phy.clusters[phy.templates == template])}, key=str
        )
        if children != [unit_of_template[template]] and len(children) > 1:
            splits[unit_of_template[template]] = children
    final = [a["unit_id"] for a in attributes]
    initial = [unit_of_template[int(t)] for t in np.unique(phy.templates)]
    history = _history(initial, final, merges, splits, groups, unit_of_cluster, removed)
    metadata: dict[str, Any] = dict(exported.get("metadata") or {})
    metadata.update(fs_Hz=phy.fs, source_format="phy", curation_history=history, phy_folder=str(folder))
    metadata.update(phy.channel_metadata())
    if (folder / HISTORY_FILE).is_file():
        metadata["previous_curation_history"] = json.loads((folder / HISTORY_FILE).read_text())
    length = exported.get("length_ms") or phy.length_ms()
    last = max((float(t[-1]) for t in trains if len(t)), default=start_ms) - start_ms
    if length is not None and last > length:
        length = None
    return SpikeData(trains, length=length, start_time=start_ms, neuron_attributes=attributes, metadata=metadata)


class _PhyFolder:
    """The arrays of a phy folder, checked for consistency."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        if not (folder / "params.py").is_file() or not (folder / "spike_times.npy").is_file():
            raise InputError(f"{folder} is not a phy folder: params.py or spike_times.npy missing.")
        self.params = read_params(folder / "params.py")
        if not self.params.get("sample_rate"):
            raise InputError(f"{folder / 'params.py'} has no sample_rate.")
        self.fs = float(self.params["sample_rate"])
        self.samples = np.load(folder / "spike_times.npy").ravel().astype(np.int64)
        templates = self._optional("spike_templates.npy")
        clusters = self._optional("spike_clusters.npy")
        if templates is None and clusters is None:
            raise InputError(f"{folder} is not a phy folder: spike_clusters.npy and spike_templates.npy missing.")
        self.templates = (templates if templates is not None else clusters).astype(np.int64)
        self.clusters = (clusters if clusters is not None else templates).astype(np.int64)
        for name, array in (("spike_templates", self.templates), ("spike_clusters", self.clusters)):
            if array.shape != self.samples.shape:
                raise InputError(
                    f"{folder}: {name}.npy has {array.size} spikes but spike_times.npy has {self.samples.size}."
                )
        self.channel_positions = self._optional("channel_positions.npy", squeeze=False)
        self.waveforms = self._optional("templates.npy", squeeze=False)
        self.template_channels = self._optional("template_ind.npy", squeeze=False)

    def _optional(self, name: str, squeeze: bool = True) -> np.ndarray | None:
        path = self.folder / name
        if not path.is_file():
            return None
        array = np.load(path)
        return array.ravel() if squeeze else array

    def channel_metadata(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.channel_positions is not None:
            out["channel_locations"] = np.asarray(self.channel_positions, dtype=float)[:, :2]
        ids = self._optional("channel_map_si.npy")
        if ids is not None:
            out["channel_ids"] = [v.item() if isinstance(v, np.generic) else v for v in ids]
        return out

    def template_place(self, template: int) -> tuple[np.ndarray, int] | None:
        """Position (center of mass of the large channels) and peak channel of a template."""
        if self.waveforms is None or self.channel_positions is None or template >= len(self.waveforms):
            return None
        ptp = np.ptp(self.waveforms[template], axis=0)
        channels = np.arange(ptp.size) if self.template_channels is None else self.template_channels[template]
        valid = channels >= 0
        ptp, channels = ptp[valid], channels[valid]
        if ptp.size == 0 or ptp.max() <= 0:
            return None
        big = ptp >= 0.5 * ptp.max()
        positions = np.asarray(self.channel_positions, dtype=float)[channels[big], :2]
        return np.average(positions, axis=0, weights=ptp[big]), int(channels[np.argmax(ptp)])

    def length_ms(self) -> float | None:
        """Duration of the raw binary named by ``dat_path``, when it is there."""
        paths = self.params.get("dat_path")
        paths = paths if isinstance(paths, (list, tuple)) else [paths]
        try:
            itemsize = np.dtype(self.params.get("dtype", "int16")).itemsize
            n_channels = int(self.params["n_channels_dat"])
            total = 0
            for p in paths:
                path = Path(p) if Path(p).is_absolute() else self.folder / p
                total += (path.stat().st_size - int(self.params.get("offset", 0))) // (itemsize * n_channels)
        except (KeyError, TypeError, ValueError, OSError):
            return None
        return total / self.fs * 1000.0 if total > 0 else None


def read_params(path: Path) -> dict[str, Any]:
    """The literal assignments of a ``params.py`` (parsed, never executed: it is code)."""
    try:
        tree = ast.parse(path.read_text())
    except SyntaxError as exc:
        raise InputError(f"{path} is not valid Python ({exc}).") from exc
    out: dict[str, Any] = {}
    for node in tree.body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            try:
                out[node.targets[0].id] = ast.literal_eval(node.value)
            except ValueError:
                continue
    return out


def read_tsv(path: Path) -> list[dict[str, str]]:
    """Rows of a phy TSV file as dicts (empty when the file is absent)."""
    if not path.is_file():
        return []
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle, delimiter="\t"))


def _column(path: Path) -> dict[int, Any]:
    rows = read_tsv(path)
    if not rows:
        return {}
    field = next(k for k in rows[0] if k != "cluster_id")
    return {int(row["cluster_id"]): _value(row[field]) for row in rows if row.get("cluster_id", "").strip()}


def _cluster_values(folder: Path) -> dict[int, dict[str, Any]]:
    values: dict[int, dict[str, Any]] = {}
    for path in sorted(folder.glob("cluster_*.tsv")):
        if path.name in _NOT_VALUES or path.name == "cluster_si_unit_ids.tsv":
            continue
        for row in read_tsv(path):
            cluster = row.pop("cluster_id", "").strip()
            if cluster:
                values.setdefault(int(cluster), {}).update(
                    {k: _value(v) for k, v in row.items() if k and v not in ("", None)}
                )
    for cluster, unit in _column(folder / "cluster_si_unit_ids.tsv").items():
        values.setdefault(cluster, {})["si_unit_id"] = unit
    return values


def _value(text: Any) -> Any:
    if not isinstance(text, str):
        return text
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def _exported_id(template: int, exported_units: dict[str, Any], values: dict[int, dict[str, Any]]) -> Any:
    if str(template) in exported_units and "unit_id" in exported_units[str(template)]:
        return exported_units[str(template)]["unit_id"]
    si_id = values.get(template, {}).get("si_unit_id")
    return si_id if si_id is not None and si_id != "" else template


class _FreshIds:
    """Unit ids for merged and split clusters: never one an exported unit has.

    Ids of the exported kind: strings when every exported id is a string (SpikeInterface's
    generated sortings use "0", "1"...), numbers otherwise; digit strings count as their number.
    """

    def __init__(self, taken) -> None:
        taken = list(taken)
        self.as_text = bool(taken) and all(isinstance(t, str) for t in taken)
        self.taken = {int(t) if str(t).lstrip("-").isdigit() else t for t in taken}
        self.last = max((t for t in self.taken if isinstance(t, (int, np.integer))), default=-1)

    def next(self, cluster: int) -> Any:
        candidate = cluster if cluster > self.last and cluster not in self.taken else self.last + 1
        self.taken.add(candidate)
        self.last = max(self.last, candidate)
        return str(candidate) if self.as_text else candidate


def _attributes(
    cluster: int, unchanged: bool, exported_units: dict[str, Any], values: dict[int, dict[str, Any]]
) -> dict[str, Any]:
    from_phy = values.get(cluster, {})
    if unchanged:
        attrs = dict(exported_units.get(str(cluster), {}))
        attrs.update(from_phy)
    else:  # a new cluster: phy's labels only; copied metrics described other spikes
        attrs = {k: v for k, v in from_phy.items() if isinstance(v, str)}
    attrs.pop("si_unit_id", None)
    for key in _RECOMPUTED:
        attrs.pop(key, None)
    return attrs


def _place(phy: _PhyFolder, exported_units, values, sources, counts, known: dict[str, Any]) -> dict[str, Any]:
    """``x``, ``y`` and ``channel``: the unit's own, else weighted over the templates of its spikes."""
    if {"x", "y", "channel"} <= set(known):
        return {}
    places = []
    for template, count in zip(sources.tolist(), counts.tolist()):
        own = {**values.get(template, {}), **exported_units.get(str(template), {})}
        derived = phy.template_place(template)
        xy = (
            (float(own["x"]), float(own["y"]))
            if "x" in own and "y" in own
            else (None if derived is None else tuple(derived[0]))
        )
        channel = own.get("channel", None if derived is None else derived[1])
        places.append((xy, channel, count))
    out: dict[str, Any] = {}
    located = [(xy, count) for xy, _, count in places if xy is not None]
    if located and not {"x", "y"} <= set(known):
        xy = np.average([p for p, _ in located], axis=0, weights=[c for _, c in located])
        out["x"], out["y"] = float(xy[0]), float(xy[1])
    channels = [(count, channel) for _, channel, count in places if channel is not None]
    if channels and "channel" not in known:
        out["channel"] = int(max(channels, key=lambda item: item[0])[1])
    return out


def _history(initial, final, merges, splits, groups, unit_of_cluster, removed) -> dict[str, Any]:
    return {
        "curation_parameters": {"source": "phy"},
        "initial": initial,
        "curations": ["phy_merge", "phy_split", "phy_group"],
        "curated": {"phy_group": final},
        "failed": {"phy_group": removed},
        "merges": {str(k): v for k, v in merges.items()},
        "splits": {str(k): v for k, v in splits.items()},
        "groups": {str(unit_of_cluster[c]): g for c, g in sorted(groups.items()) if c in unit_of_cluster},
        "metrics": {},
        "curated_final": final,
    }
