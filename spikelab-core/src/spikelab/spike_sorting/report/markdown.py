"""``sorting_report.md`` rendered from the report document (the JSON of ``recording_report.json``)."""

from __future__ import annotations

import math
from typing import Any

from spikelab.spike_sorting.report._data import FOOTPRINT_PNG, QUALITY_FIELDS, QUALITY_PNG

#: Units listed in the per-unit table at most (the JSON holds all of them).
MAX_UNIT_ROWS = 500
_UNIT_COLUMNS = [("unit_id", "unit"), ("n_spikes", "spikes"), ("firing_rate", "rate (Hz)"), ("channel", "channel"),
                 ("x", "x (µm)"), ("y", "y (µm)"), ("amplitude", "amp (µV)"), ("snr", "SNR"),
                 ("std_norm", "std_norm"), ("isi_violation", "ISI viol. (%)"), ("kept", "kept"),
                 ("failed", "failed criteria")]


def render(doc: dict[str, Any]) -> str:
    """The whole report as Markdown."""
    rec = doc  # the RecordingResult's fields are at the top level
    parts = [f"# Sorting report: {rec.get('rec_name', '?')}", ""]
    parts += _overview(doc, rec)
    parts += _failure(rec)  # first thing a reader of a failed run needs
    parts += _curation(doc)
    parts += _quality(doc)
    parts += _units(doc)
    parts += _timings(rec)
    parts += _config(doc)
    parts += _versions(doc)
    parts += _watchdog(doc)
    parts += [
        f"_Report schema {doc.get('schema')} v{doc.get('schema_version')}, generated {doc.get('generated_at')}._",
        "",
    ]
    return "\n".join(parts)


def _fmt(value: Any) -> str:
    if value is None:
        return "–"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        if not math.isfinite(value):
            return str(value)
        return f"{value:.3g}" if abs(value) < 1000 else f"{value:.0f}"
    if isinstance(value, (list, tuple)):
        return ", ".join(_fmt(v) for v in value) or "–"
    return str(value).replace("|", "\\|").replace("\n", " ")


def _table(header: list[str], rows: list[list[Any]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(_fmt(v) for v in row) + " |" for row in rows]
    return lines + [""]


def _overview(doc: dict[str, Any], rec: dict[str, Any]) -> list[str]:
    curation = doc.get("curation", {})
    rows = [
        ["Status", rec.get("status")],
        ["Sorter", doc.get("sorter")],
        *([["Why this sorter", rec["sorter_choice"]]] if rec.get("sorter_choice") else []),
        *([["Accuracy against ground truth", doc["ground_truth"].get("summary")]] if doc.get("ground_truth") else []),
        ["Recording", rec.get("rec_path")],
        ["Results folder", rec.get("results_folder")],
        ["Wall time (s)", rec.get("wall_time_s")],
        ["Units found", curation.get("n_units", rec.get("n_units"))],
        ["Units kept", curation.get("n_kept", rec.get("n_curated_units"))],
        ["OOM retries", rec.get("retries_used")],
        ["Cached stages", rec.get("cached_stages")],
    ]
    sorted_by = doc.get("sorted_by") or {}
    if "sort" in (rec.get("cached_stages") or []) and sorted_by:
        rows.append(["Sort reused from the run of", f"{sorted_by.get('finished_at')} "
                     f"(wall time {_fmt(sorted_by.get('wall_time_s'))} s, {sorted_by.get('n_units')} units)"])
    if len(doc.get("run_history") or []) > 1:
        rows.append(["Runs recorded", f"{len(doc['run_history'])} (see run_history.jsonl)"])
    if rec.get("error_class"):
        rows.append(["Error", f"{rec.get('error_class')}: {rec.get('error_message')}"])
    return ["## Overview", ""] + _table(["", ""], rows)


def _curation(doc: dict[str, Any]) -> list[str]:
    curation = doc.get("curation") or {}
    criteria = curation.get("criteria") or []
    lines = ["## Curation outcome", ""]
    if curation.get("n_units") is not None:
        lines += [f"Curation: {curation.get('n_units')} -> {curation.get('n_kept')} units "
                  f"({(curation.get('n_units') or 0) - (curation.get('n_kept') or 0)} removed).", ""]
    if not criteria:
        return lines + ["No curation criterion was applied.", ""]
    rows = [[c["criterion"], c.get("parameter"), c.get("threshold"), c.get("n_evaluated"), c.get("n_passed"),
             c.get("n_failed")] for c in criteria]
    return lines + _table(["criterion", "parameter", "threshold", "evaluated", "passed", "failed"], rows)


def _quality(doc: dict[str, Any]) -> list[str]:
    quality = doc.get("quality") or {}
    figures = doc.get("figures") or []
    lines = ["## Unit quality distributions", ""]
    rows = [[QUALITY_FIELDS.get(k, k), q.get("n"), q.get("mean"), q.get("median"), q.get("std"), q.get("min"),
             q.get("max")] for k, q in quality.items() if q.get("n")]
    lines += (
        _table(["metric (all units)", "n", "mean", "median", "std", "min", "max"], rows) if rows else ["No unit.", ""]
    )
    if QUALITY_PNG in figures:
        lines += [f"![Quality distributions]({QUALITY_PNG})", ""]
    if FOOTPRINT_PNG in figures:
        lines += ["## Unit footprints", "", f"![Unit footprints]({FOOTPRINT_PNG})", ""]
    return lines


def _units(doc: dict[str, Any]) -> list[str]:
    units = doc.get("units") or []
    lines = ["## Units", ""]
    if not units:
        return lines + ["No unit.", ""]
    shown = units[:MAX_UNIT_ROWS]
    columns = [(k, label) for k, label in _UNIT_COLUMNS if any(u.get(k) not in (None, []) for u in shown)]
    lines += _table([label for _, label in columns], [[u.get(k) for k, _ in columns] for u in shown])
    if len(units) > MAX_UNIT_ROWS:
        lines += [f"{len(units) - MAX_UNIT_ROWS} more units are listed in recording_report.json.", ""]
    return lines


def _timings(rec: dict[str, Any]) -> list[str]:
    times = rec.get("stage_times_s") or {}
    lines = ["## Pipeline timing", ""]
    if not times:
        return lines + ["No stage timings were recorded.", ""]
    total = sum(v for v in times.values() if isinstance(v, (int, float)))
    rows = [[name, seconds, (seconds / total * 100) if total else None] for name, seconds in times.items()]
    lines += _table(["stage", "seconds", "% of stages"], rows)
    attempts = rec.get("attempts") or []
    if len(attempts) > 1:
        lines += ["Sort attempts:", ""]
        lines += _table(["#", "status", "params", "error", "seconds"],
                        [[a.get("number"), a.get("status"), a.get("params"), a.get("error_class"), a.get("wall_time_s")]
                         for a in attempts])
    return lines


def _config(doc: dict[str, Any]) -> list[str]:
    changes = doc.get("config_changes") or []
    lines = ["## Configuration (settings that differ from the defaults)", ""]
    if not changes:
        return lines + ["All settings at their defaults.", ""]
    return lines + _table(["setting", "default", "used"], [[c["setting"], c["default"], c["used"]] for c in changes])


def _versions(doc: dict[str, Any]) -> list[str]:
    versions = doc.get("versions") or {}
    return ["## Versions", ""] + _table(["package", "version"], [[k, v] for k, v in versions.items()])


def _watchdog(doc: dict[str, Any]) -> list[str]:
    summary = doc.get("watchdog")
    if not summary:
        return []
    return ["## Watchdog events", ""] + _table(["event", "count"], [[k, v] for k, v in summary["counts"].items()])


def _failure(rec: dict[str, Any]) -> list[str]:
    if not rec.get("error_class"):
        return []
    lines = [
        "## Failure",
        "",
        f"**{rec.get('error_class')}** (status `{rec.get('status')}`): {rec.get('error_message')}",
        "",
    ]
    evidence = rec.get("error_evidence") or {}
    if evidence:
        lines += _table(["evidence", "value"], [[k, v] for k, v in evidence.items() if v is not None])
    if rec.get("error_traceback"):
        tail = "\n".join(str(rec["error_traceback"]).splitlines()[-40:])
        lines += ["```text", tail, "```", ""]
    return lines
