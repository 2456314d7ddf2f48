"""What a report says, gathered into JSON-ready pieces (rendering lives elsewhere)."""

from __future__ import annotations

import importlib.metadata
import json
import math
import platform
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from spikelab.plugins import SpikeLabPluginManager
    from spikelab.spike_sorting.config import SortingPipelineConfig
    from spikelab.spikedata import SpikeData

SCHEMA = "spikelab.recording_report"
SCHEMA_VERSION = 1
REPORT_JSON = "recording_report.json"
REPORT_MD = "sorting_report.md"
FOOTPRINT_PNG = "sorting_report_footprints.png"
QUALITY_PNG = "sorting_report_quality.png"
WATCHDOG_EVENTS = "watchdog_events.jsonl"

#: Distributions shown in the report (neuron attribute or curation metric -> label).
QUALITY_FIELDS = {
    "snr": "SNR",
    "std_norm": "std_norm",
    "amplitude": "amplitude (µV)",
    "firing_rate": "firing rate (Hz)",
    "isi_violation": "ISI violations (%)",
    "n_spikes": "spikes",
}
#: Core's own dependencies; a backend's (torch, kilosort) come from its ``reported_versions``.
_VERSIONED = ("spikelab-core", "spikeinterface", "probeinterface", "neo", "numpy", "scipy", "h5py", "hdf5plugin")


def json_safe(value: Any) -> Any:
    """numpy, Path, inf and nan to plain JSON values (non-finite floats become None)."""
    if isinstance(value, Mapping):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set)):
        return [json_safe(v) for v in value]
    if isinstance(value, np.ndarray):
        return json_safe(value.tolist())
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, BaseException):
        return f"{type(value).__name__}: {value}"
    return value


def environment_versions(extra: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Python and the installed versions of the packages that shape a result, plus ``extra``."""
    found: dict[str, Any] = {"python": platform.python_version(), "platform": platform.platform()}
    for dist in _VERSIONED:
        try:
            found[dist] = importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            continue
    found.update(dict(extra or {}))
    return found


#: Knobs that change only what the terminal shows, never a result: the CLI sets them from the
#: terminal and --quiet/--verbose, so listing them would read as choices the user made.
DISPLAY_ONLY = ("progress_bar", "sorter_output")


def config_changes(config: SortingPipelineConfig) -> list[dict[str, Any]]:
    """Every knob whose value differs from ``SortingPipelineConfig()``'s default (display-only knobs aside)."""
    defaults = type(config)().flat_items()
    return [
        {"setting": name, "default": json_safe(defaults.get(name)), "used": json_safe(value)}
        for name, value in config.flat_items().items()
        if json_safe(value) != json_safe(defaults.get(name)) and name not in DISPLAY_ONLY
    ]


def criterion_params(plugins: SpikeLabPluginManager) -> dict[str, str]:
    """``curate()`` keyword of each registered metric, by metric name (``{"snr": "min_snr"}``)."""
    try:
        return {metric.name: param for param, metric in plugins.curation_metrics().items()}
    except Exception:  # noqa: BLE001 - a broken metric plugin must not stop a report
        return {}


def _printed(param: str) -> str:
    """The name a user sets for a criterion: the config's knob (``snr_min``) where it has one,
    so the report speaks the vocabulary of ``--set`` and ``override``; ``curate()`` takes both."""
    from spikelab.spikedata.curation import CONFIG_SPELLINGS

    return {curate: knob for knob, curate in CONFIG_SPELLINGS.items()}.get(param, param)


def curation_from_results(
    results: Mapping[str, Mapping[str, Any]], parameters: Mapping[str, Any], params: Mapping[str, str]
) -> list[dict[str, Any]]:
    """Per criterion: threshold, units evaluated, passed and failed (from ``SpikeData.curate``);
    ``params`` is :func:`criterion_params`."""
    out = []
    for name, result in results.items():
        passed = np.asarray(result.get("passed", []), dtype=bool)
        param = params.get(name, name)
        threshold = parameters.get(param, parameters.get(_printed(param)))
        out.append({"criterion": name, "parameter": _printed(param), "threshold": json_safe(threshold),
                    "n_evaluated": int(passed.size), "n_passed": int(passed.sum()),
                    "n_failed": int(passed.size - passed.sum())})
    return out


def curation_from_history(history: Mapping[str, Any], params: Mapping[str, str]) -> list[dict[str, Any]]:
    """The same summary from a curation history (``curation_history.json``)."""
    thresholds = history.get("curation_parameters", {})
    out = []
    for name in history.get("curations", []):
        passed, failed = history.get("curated", {}).get(name, []), history.get("failed", {}).get(name, [])
        param = params.get(name, name)
        threshold = thresholds.get(param, thresholds.get(_printed(param)))
        out.append({"criterion": name, "parameter": _printed(param), "threshold": json_safe(threshold),
                    "n_evaluated": len(passed) + len(failed), "n_passed": len(passed), "n_failed": len(failed)})
    return out


def unit_table(
    sd: SpikeData | None,
    kept_ids: set[Any] | None,
    metrics: Mapping[str, Mapping[str, Any]] | None = None,
    failed: Mapping[str, list[Any]] | None = None,
) -> list[dict[str, Any]]:
    """One row per unit: id, spikes, rate, channel, position, amplitude, snr, std_norm, kept, failed criteria.

    ``metrics`` (``{criterion: {str(unit_id): value}}``) fills values the SpikeData lacks;
    ``failed`` (``{criterion: [unit ids]}``) names the criteria each unit failed.
    """
    metrics = metrics or {}
    failed_by_unit: dict[str, list[str]] = {}
    for criterion, ids in (failed or {}).items():
        for uid in ids:
            failed_by_unit.setdefault(str(uid), []).append(criterion)
    rows: list[dict[str, Any]] = []
    if sd is not None:
        duration_s = sd.length / 1000.0 if sd.length else 0.0
        for uid, train, unit in zip(sd.unit_ids.tolist(), sd.train, sd.neuron_attributes):
            rows.append({
                "unit_id": uid, "n_spikes": len(train),
                "firing_rate": len(train) / duration_s if duration_s > 0 else None,
                "channel": unit.get("channel"), "x": unit.get("x"), "y": unit.get("y"),
                "amplitude": unit.get("amplitude"), "snr": unit.get("snr"), "std_norm": unit.get("std_norm"),
            })
    else:
        ids = sorted({uid for values in metrics.values() for uid in values}, key=_id_order)
        rows = [{"unit_id": _parse_id(uid)} for uid in ids]
    for row in rows:
        key = str(row["unit_id"])
        for criterion, values in metrics.items():
            field = "n_spikes" if criterion == "spike_count" else criterion
            if row.get(field) is None and key in values:
                row[field] = values[key]
        if "isi_violation" in metrics and key in metrics["isi_violation"]:
            row["isi_violation"] = metrics["isi_violation"][key]
        row["kept"] = None if kept_ids is None else row["unit_id"] in kept_ids
        row["failed"] = failed_by_unit.get(key, [])
    return [json_safe(row) for row in rows]


def metrics_by_unit(sd: SpikeData, results: Mapping[str, Mapping[str, Any]]) -> tuple[dict, dict]:
    """``({criterion: {id: value}}, {criterion: [failed ids]})`` for results over ``sd``'s units."""
    ids = [str(u) for u in sd.unit_ids.tolist()]
    metrics, failed = {}, {}
    for name, result in results.items():
        values = np.asarray(result.get("metric", []), dtype=float)
        passed = np.asarray(result.get("passed", []), dtype=bool)
        if values.size != len(ids):
            continue  # evaluated on another unit set (e.g. before a merge)
        metrics[name] = {uid: json_safe(float(v)) for uid, v in zip(ids, values)}
        failed[name] = [_parse_id(uid) for uid, ok in zip(ids, passed) if not ok]
    return metrics, failed


def distribution(values: list[Any]) -> dict[str, Any]:
    """n, mean, median, std, min, max of the finite values."""
    finite = np.array([v for v in values if isinstance(v, (int, float)) and math.isfinite(v)], dtype=float)
    if finite.size == 0:
        return {"n": 0}
    return {"n": int(finite.size), "mean": float(finite.mean()), "median": float(np.median(finite)),
            "std": float(finite.std()), "min": float(finite.min()), "max": float(finite.max())}


def watchdog_summary(results_folder: Path) -> dict[str, Any] | None:
    """Events of ``watchdog_events.jsonl`` counted by kind, with the last one of each."""
    path = results_folder / WATCHDOG_EVENTS
    if not path.is_file():
        return None
    counts: dict[str, int] = {}
    last: dict[str, Any] = {}
    for line in path.read_text(errors="replace").splitlines():
        try:
            event = json.loads(line)
        except ValueError:
            continue
        kind = str(event.get("event") or event.get("kind") or event.get("watchdog") or "event")
        counts[kind] = counts.get(kind, 0) + 1
        last[kind] = event
    return {"counts": counts, "last": json_safe(last)}


def _id_order(uid: str) -> tuple[int, Any]:
    parsed = _parse_id(uid)
    return (0, parsed) if isinstance(parsed, int) else (1, str(parsed))


def _parse_id(uid: Any) -> Any:
    try:
        return int(uid)
    except (TypeError, ValueError):
        return uid
