"""``sorting_report.html``: the report as one self-contained page, and the batch index page.

The page needs no network: figures are inlined as base64 PNG, the per-unit data as JSON, and
``page.js`` draws every unit's panels (footprint, waveform, ISI histogram, autocorrelogram,
amplitude over time) as SVG. Summary, curation and per-unit tables are plain HTML, so they read
without JavaScript too.
"""

from __future__ import annotations

import base64
import html
import importlib.resources
import json
import math
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from spikelab.spike_sorting.report._data import FOOTPRINT_PNG, QUALITY_PNG

REPORT_HTML = "sorting_report.html"
INDEX_HTML = "index.html"


def _asset(name: str) -> str:
    return importlib.resources.files("spikelab.spike_sorting.report").joinpath(name).read_text(encoding="utf-8")


def _cell(value: Any) -> str:
    if value is None or value == []:
        return "–"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.3g}" if math.isfinite(value) else "–"
    if isinstance(value, (list, tuple)):
        return html.escape(", ".join(str(v) for v in value))
    return html.escape(str(value))


def table(headers: Iterable[str], rows: Iterable[Iterable[Any]], *, raw: bool = False) -> str:
    """An HTML table; cells are escaped unless ``raw``."""
    head = "".join(f"<th>{html.escape(h)}</th>" for h in headers)
    body = "".join(
        "<tr>" + "".join(f"<td>{c if raw else _cell(c)}</td>" for c in row) + "</tr>" for row in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _image(folder: Path, name: str, alt: str) -> str:
    path = folder / name
    if not path.is_file():
        return ""
    data = base64.b64encode(path.read_bytes()).decode("ascii")
    return f'<img class="figure" alt="{html.escape(alt)}" src="data:image/png;base64,{data}">'


def _summary(doc: Mapping[str, Any]) -> str:
    curation = doc.get("curation") or {}
    status = str(doc.get("status", "?"))
    css = "status-success" if status == "success" else "status-failed"
    rows = [
        ["Status", f'<span class="{css}">{html.escape(status)}</span>'],
        ["Sorter", _cell(doc.get("sorter"))],
        *([["Why this sorter", _cell(doc["sorter_choice"])]] if doc.get("sorter_choice") else []),
        *([["Accuracy against ground truth", _cell(doc["ground_truth"].get("summary"))]]
          if doc.get("ground_truth") else []),
        ["Recording", _cell(doc.get("rec_path"))],
        ["Units found", _cell(curation.get("n_units", doc.get("n_units")))],
        ["Units kept", _cell(curation.get("n_kept", doc.get("n_curated_units")))],
        ["Wall time (s)", _cell(doc.get("wall_time_s"))],
        ["Results folder", _cell(doc.get("results_folder"))],
    ]
    if doc.get("error_class"):
        rows.append(["Error", _cell(f"{doc.get('error_class')}: {doc.get('error_message')}")])
    return table(["", ""], rows, raw=True)


def _curation(doc: Mapping[str, Any]) -> str:
    criteria = (doc.get("curation") or {}).get("criteria") or []
    if not criteria:
        return "<p>No curation criterion was applied.</p>"
    return table(
        ["criterion", "parameter", "threshold", "evaluated", "passed", "failed"],
        [[c.get("criterion"), c.get("parameter"), c.get("threshold"), c.get("n_evaluated"), c.get("n_passed"),
          c.get("n_failed")] for c in criteria],
    )


def _unit_table(units: list[Mapping[str, Any]]) -> str:
    columns = [("unit_id", "unit"), ("kept", "kept"), ("n_spikes", "spikes"), ("firing_rate", "rate (Hz)"),
               ("channel", "channel"), ("amplitude", "amp (µV)"), ("snr", "SNR"),
               ("isi_violation", "ISI viol. (%)"), ("failed", "failed criteria")]
    columns = [(k, label) for k, label in columns if any(u.get(k) not in (None, []) for u in units)]
    return table([label for _, label in columns], [[u.get(k) for k, _ in columns] for u in units])


def render(doc: Mapping[str, Any], panels: Mapping[str, Any], folder: Path) -> str:
    """The page for one recording's report document ``doc`` (figures read from ``folder``)."""
    units = list(doc.get("units") or [])
    n_kept = sum(1 for u in units if u.get("kept") is not False)
    data = json.dumps({"units": units, "panels": panels}, allow_nan=False).replace("</", "<\\/")
    name = html.escape(str(doc.get("rec_name", "?")))
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Sorting report: {name}</title>
<style>{_asset("page.css")}</style>
</head><body>
<h1>Sorting report: {name}</h1>
<p>Generated {_cell(doc.get("generated_at"))} by SpikeLab. Every unit the sorter found is listed below;
use the buttons to show the units curation kept or removed.</p>
<h2>Summary</h2>
{_summary(doc)}
<h2>Curation</h2>
{_curation(doc)}
{_image(folder, QUALITY_PNG, "Unit quality distributions")}
<h2>Units</h2>
<div class="filters">
<button class="filter" data-filter="all">all ({len(units)})</button>
<button class="filter" data-filter="kept">kept ({n_kept})</button>
<button class="filter" data-filter="removed">removed ({len(units) - n_kept})</button>
</div>
<div id="units"></div>
<h2>Unit table</h2>
{_unit_table(units)}
<h2>Largest kept units</h2>
{_image(folder, FOOTPRINT_PNG, "Unit footprints") or "<p>No footprint figure.</p>"}
<script type="application/json" id="report-data">{data}</script>
<script>{_asset("page.js")}</script>
</body></html>
"""


def render_index(title: str, recordings: Iterable[Mapping[str, Any]], folder: Path) -> str:
    """An index page linking each recording's ``sorting_report.html`` (paths relative to ``folder``).

    Each item of ``recordings`` carries ``rec_name``, ``status``, ``n_units``, ``n_curated_units``,
    ``results_folder`` and, when there is one, ``error_class``.
    """
    rows = []
    for rec in recordings:
        page = Path(str(rec.get("results_folder", ""))) / REPORT_HTML
        name = html.escape(str(rec.get("rec_name", "?")))
        if page.is_file():
            try:
                href = page.resolve().relative_to(folder.resolve()).as_posix()
            except ValueError:
                href = page.resolve().as_uri()
            name = f'<a href="{html.escape(href)}">{name}</a>'
        status = str(rec.get("status", "?"))
        css = "status-success" if status == "success" else "status-failed"
        rows.append([name, f'<span class="{css}">{html.escape(status)}</span>', _cell(rec.get("n_units")),
                     _cell(rec.get("n_curated_units")), _cell(rec.get("error_class"))])
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>{_asset("page.css")}</style></head><body>
<h1>{html.escape(title)}</h1>
{table(["recording", "status", "units found", "units kept", "error"], rows, raw=True)}
</body></html>
"""


def write_index(folder: str | Path, recordings: Iterable[Any], *, title: str = "SpikeLab sorting reports") -> Path:
    """Write ``index.html`` in ``folder`` linking every recording's report page.

    Parameters
    ----------
    folder : str or Path
        Where the index goes (links are relative to it when the reports lie below it).
    recordings : iterable of RecordingResult or mapping
        The batch's results (``RecordingResult.to_dict()`` fields).
    title : str, default: "SpikeLab sorting reports"
        The page's heading.

    Returns
    -------
    Path
        The index file.
    """
    from spikelab.spike_sorting.cache import atomic_write_text

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    rows = [r.to_dict() if hasattr(r, "to_dict") else dict(r) for r in recordings]
    return atomic_write_text(folder / INDEX_HTML, render_index(title, rows, folder))
