"""Deciding whether a recording's results are already complete and valid (to skip on rerun)."""

from __future__ import annotations

import json
from pathlib import Path

REPORT_JSON = "recording_report.json"


def completed_result(results_folder: str | Path) -> dict | None:
    """The recording report of a finished, successful sort whose SpikeData still loads, else None."""
    folder = Path(results_folder)
    try:
        doc = json.loads((folder / REPORT_JSON).read_text())
    except (OSError, ValueError):
        return None
    result = doc.get("result") if isinstance(doc.get("result"), dict) else doc
    if result.get("status") != "success":
        return None
    path = result.get("spikedata_path") or doc.get("spikedata_path")
    if not path or not Path(path).is_file():
        return None
    try:
        from spikelab import SpikeData

        SpikeData.load(path)
    except Exception:
        return None
    return result
