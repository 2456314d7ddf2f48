"""Writing the reports: ``recording_report.json`` (always), ``sorting_report.md`` + PNGs and
``sorting_report.html`` (one self-contained page)."""

from __future__ import annotations

import datetime as _dt
import json
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import structlog

from spikelab.errors import InputError
from spikelab.plugins import plugin_manager_in_use
from spikelab.spike_sorting.cache import atomic_write_text as write_text_atomic
from spikelab.spike_sorting.report import _data, _panels, figures, html, markdown

if TYPE_CHECKING:
    from spikelab.plugins import SpikeLabPluginManager
    from spikelab.spike_sorting.config import SortingPipelineConfig
    from spikelab.spike_sorting.results import RecordingResult
    from spikelab.spikedata import SpikeData

log = structlog.get_logger("spikelab.report")

#: The fullest document written for a results folder in this process, by ``id`` of its result,
#: so the JSON written after the Markdown keeps the unit table built from the uncurated units.
_LAST_FULL: dict[str, tuple[int, dict[str, Any]]] = {}


def curation_thresholds(config: SortingPipelineConfig) -> dict[str, Any]:
    """``SpikeData.curate`` thresholds from ``config.curation`` (by parameter name)."""
    c = config.curation
    return {"min_spikes": c.spikes_min, "min_rate_hz": c.fr_min, "isi_max": c.isi_viol_max,
            "min_snr": c.snr_min, "max_std_norm": c.std_norm_max}


def _base_doc(
    result: RecordingResult, config: SortingPipelineConfig | None, versions: Mapping[str, Any] | None
) -> dict:
    return {
        "schema": _data.SCHEMA,
        "schema_version": _data.SCHEMA_VERSION,
        "generated_at": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        # the RecordingResult's fields at the top level (status, rec_name, error_class, ...)
        **_data.json_safe(result.to_dict()),
        "sorter": config.sorter.sorter_name if config is not None else None,
        "config": _data.json_safe(config.to_dict()) if config is not None else None,
        "config_changes": _data.config_changes(config) if config is not None else [],
        "versions": _data.environment_versions(versions),
        **_history(result),
    }


def _history(result: RecordingResult) -> dict[str, Any]:
    """``run_history`` (every run that wrote this results folder) and ``sorted_by`` (the run
    that really sorted, when this one reused its sort)."""
    from spikelab.spike_sorting.provenance import read_history, sorting_run

    if not result.results_folder:
        return {}
    history = read_history(result.results_folder)
    return {"run_history": history, "sorted_by": sorting_run(history)} if history else {}


def _finish(doc: dict[str, Any], units: list[dict[str, Any]], results_folder: Path) -> dict[str, Any]:
    doc["units"] = units
    doc["quality"] = {field: _data.distribution([u.get(field) for u in units]) for field in _data.QUALITY_FIELDS}
    doc["watchdog"] = _data.watchdog_summary(results_folder)
    return doc


def write_recording_report(
    result: RecordingResult,
    results_folder: str | Path,
    *,
    config: SortingPipelineConfig | None = None,
    curation: Mapping[str, Any] | None = None,
    sd: SpikeData | None = None,
    versions: Mapping[str, Any] | None = None,
    plugins: SpikeLabPluginManager | None = None,
) -> Path:
    """Write ``recording_report.json`` (schema-versioned, atomic); for failures too.

    ``plugins`` names the curation metrics' keywords (default: the manager in use).

    Parameters
    ----------
    result : RecordingResult
        Outcome of the recording (status, error, timings, attempts, paths).
    results_folder : str or Path
        Where the report goes.
    config : SortingPipelineConfig, optional
        The configuration used (stored whole, plus the settings that differ from defaults).
    curation : mapping, optional
        The curation history (``SpikeData.build_curation_history``): per-criterion outcome and
        per-unit metrics.
    sd : SpikeData, optional
        The curated SpikeData (fills channel, position, amplitude of kept units).
    versions : mapping, optional
        Versions to record beside the ones found in the environment.

    Returns
    -------
    Path
        The JSON file.
    """
    folder = Path(results_folder)
    doc = _base_doc(result, config, versions)
    previous = _LAST_FULL.get(str(folder))
    if previous is not None and previous[0] == id(result):
        full = previous[1]
        doc.update({k: full[k] for k in ("curation", "units", "figures") if k in full})
        doc["versions"] = {**full.get("versions", {}), **doc["versions"]}
        doc = _finish(doc, doc["units"], folder)
    else:
        units, summary = _units_from_history(curation, sd, _data.criterion_params(plugin_manager_in_use(plugins)))
        doc["curation"] = summary
        doc["figures"] = [name for name in (_data.QUALITY_PNG, _data.FOOTPRINT_PNG) if (folder / name).is_file()]
        doc = _finish(doc, units, folder)
    path = write_text_atomic(folder / _data.REPORT_JSON, json.dumps(_data.json_safe(doc), indent=2))
    log.info("recording_report_written", path=str(path), status=result.status)
    return path


def _units_from_history(
    history: Mapping[str, Any] | None, sd: SpikeData | None, params: Mapping[str, str]
) -> tuple[list, dict]:
    if history:
        kept = set(history.get("curated_final", []))
        units = _data.unit_table(None, kept, history.get("metrics"), history.get("failed"))
        known = {u["unit_id"] for u in units}
        units += [_data.json_safe({"unit_id": uid, "kept": uid in kept, "failed": []})
                  for uid in history.get("initial", []) if uid not in known]
        if sd is not None:
            rows = {r["unit_id"]: r for r in _data.unit_table(sd, None)}
            for unit in units:
                extra = rows.get(unit["unit_id"], {})
                unit.update({k: v for k, v in extra.items() if v is not None and k not in ("kept", "failed")})
        summary = {"criteria": _data.curation_from_history(history, params), "n_units": len(history.get("initial", [])),
                   "n_kept": len(kept)}
        return units, summary
    if sd is not None:
        return _data.unit_table(sd, None), {"criteria": [], "n_units": sd.N, "n_kept": None}
    return [], {"criteria": [], "n_units": None, "n_kept": None}


def write_sorting_report(
    results_folder: str | Path,
    *,
    result: RecordingResult,
    config: SortingPipelineConfig,
    sd_raw: SpikeData,
    sd_curated: SpikeData,
    curation_results: Mapping[str, Mapping[str, Any]],
    versions: Mapping[str, Any] | None = None,
    plugins: SpikeLabPluginManager | None = None,
) -> Path:
    """Write ``sorting_report.md`` and its PNG figures beside it; returns the Markdown path.

    ``plugins`` names the curation metrics' keywords (default: the manager in use).

    Sections: overview, curation outcome per criterion, quality distributions (table and
    figure), footprints of the largest kept units, per-unit quality table, stage timings,
    non-default settings, versions, watchdog events and, for a failure, the error.
    """
    folder = Path(results_folder)
    folder.mkdir(parents=True, exist_ok=True)
    doc = _base_doc(result, config, versions)
    metrics, failed = _data.metrics_by_unit(sd_raw, curation_results)
    kept = set(sd_curated.unit_ids.tolist())
    units = _data.unit_table(sd_raw, kept, metrics, failed)
    doc["curation"] = {"criteria": _data.curation_from_results(
        curation_results, curation_thresholds(config), _data.criterion_params(plugin_manager_in_use(plugins))),
                       "n_units": sd_raw.N, "n_kept": sd_curated.N}
    doc = _finish(doc, units, folder)
    doc["figures"] = _figures(folder, config, units, sd_curated)
    _LAST_FULL[str(folder)] = (id(result), doc)
    path = write_text_atomic(folder / _data.REPORT_MD, markdown.render(doc))
    _write_html(doc, sd_raw, folder)
    log.info("sorting_report_written", path=str(path), units=sd_raw.N, kept=sd_curated.N)
    return path


def _write_html(doc: dict[str, Any], sd: SpikeData | None, folder: Path) -> Path | None:
    """``sorting_report.html`` beside the Markdown; a failure is logged, never raised."""
    try:
        panels = _panels.unit_panels(sd) if sd is not None else {}
        return write_text_atomic(folder / html.REPORT_HTML, html.render(doc, panels, folder))
    except Exception as exc:  # noqa: BLE001 - the page must never cost the Markdown report
        log.warning("report_html_failed", folder=str(folder), error=f"{type(exc).__name__}: {exc}")
        return None


def _figures(folder: Path, config: SortingPipelineConfig | None, units: list[dict], sd: SpikeData | None) -> list[str]:
    from spikelab.spike_sorting.config import FigureConfig, WaveformConfig

    fig_config = config.figures if config is not None else FigureConfig()
    wf_config = config.waveform if config is not None else WaveformConfig()
    if not fig_config.create_figures:
        return []
    written = []
    try:
        thresholds = curation_thresholds(config) if config is not None else {}
        if figures.quality_figure(units, thresholds, folder, dpi=fig_config.dpi) is not None:
            written.append(_data.QUALITY_PNG)
        if sd is not None and sd.N and figures.footprint_figure(
            sd, folder, max_units=fig_config.max_units_in_footprint_figure,
            min_amplitude_uv=wf_config.template_min_amplitude_uv, dpi=fig_config.dpi,
        ) is not None:
            written.append(_data.FOOTPRINT_PNG)
    except Exception as exc:  # noqa: BLE001 - a figure must never cost the report
        log.warning("report_figure_failed", folder=str(folder), error=f"{type(exc).__name__}: {exc}")
    return written


def regenerate_report(results_folder: str | Path) -> Path:
    """Render ``sorting_report.md``, ``sorting_report.html`` and the figures again from a results folder.

    Reads ``recording_report.json`` and, when its ``spikedata_path`` still exists, the curated
    SpikeData for the footprints.

    Raises
    ------
    InputError
        When the folder holds no ``recording_report.json``.
    """
    from spikelab.spike_sorting.config import SortingPipelineConfig

    folder = Path(results_folder)
    json_path = folder / _data.REPORT_JSON
    if not json_path.is_file():
        raise InputError(f"{folder} holds no {_data.REPORT_JSON}; pass a results folder written by sort_recording.")
    try:
        doc = json.loads(json_path.read_text())
    except ValueError as exc:
        raise InputError(
            f"{json_path} is not valid JSON ({exc}); the run may have been killed while writing it."
        ) from exc
    if doc.get("schema_version", 0) > _data.SCHEMA_VERSION:
        raise InputError(f"{json_path} has report schema v{doc.get('schema_version')}; this SpikeLab reads up to "
                         f"v{_data.SCHEMA_VERSION}. Upgrade spikelab-core.")
    config = None
    if doc.get("config"):
        try:
            config = SortingPipelineConfig.from_dict(doc["config"])
        except Exception as exc:  # noqa: BLE001 - an old config still gets a report
            log.warning("report_config_unreadable", error=str(exc))
    sd = _load_curated(doc, folder)
    doc["figures"] = _figures(folder, config, doc.get("units") or [], sd)
    path = write_text_atomic(folder / _data.REPORT_MD, markdown.render(doc))
    _write_html(doc, _load_raw(folder) or sd, folder)
    log.info("sorting_report_regenerated", path=str(path))
    return path


def _load_raw(folder: Path) -> SpikeData | None:
    """The uncurated SpikeData when the run saved it (``save_raw_pkl``): panels for removed units too."""
    from spikelab.spike_sorting.stages.curation import RAW_NAME
    from spikelab.spikedata.io import load

    path = folder / RAW_NAME
    if not path.is_file():
        return None
    try:
        return load(path)
    except Exception as exc:  # noqa: BLE001
        log.warning("report_spikedata_unreadable", path=str(path), error=str(exc))
        return None


def _load_curated(doc: dict[str, Any], folder: Path) -> SpikeData | None:
    from spikelab.spikedata.io import load

    candidates = [doc.get("spikedata_path"), folder / "sorted_spikedata_curated.pkl"]
    for candidate in candidates:
        if candidate and Path(candidate).is_file():
            try:
                return load(candidate)
            except Exception as exc:  # noqa: BLE001
                log.warning("report_spikedata_unreadable", path=str(candidate), error=str(exc))
    return None
