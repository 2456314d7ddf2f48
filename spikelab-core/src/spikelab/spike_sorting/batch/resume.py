"""Deciding whether a recording's results are already complete and valid (to skip on rerun).

A result is reused only when it was made from the same input and the same effective
configuration: its ``recording_report.json`` holds a ``result_key``
(:func:`~spikelab.spike_sorting.provenance.result_key`),
compared with the key of the run about to start.
"""

from __future__ import annotations

import json
from pathlib import Path

import structlog

from spikelab.spike_sorting.provenance import result_key

__all__ = ["completed_result", "result_key"]

log = structlog.get_logger("spikelab.batch")

REPORT_JSON = "recording_report.json"


def completed_result(results_folder: str | Path, key: str | None = None) -> dict | None:
    """The report of a finished, successful sort of this input and configuration whose SpikeData
    still loads, else None.

    Parameters
    ----------
    results_folder : str or Path
        The recording's results folder.
    key : str, optional
        :func:`result_key` of the run about to start; a report made with another key (another
        configuration or a changed input) is not reused.
    """
    folder = Path(results_folder)
    try:
        doc = json.loads((folder / REPORT_JSON).read_text())
    except (OSError, ValueError):
        return None
    result = doc.get("result") if isinstance(doc.get("result"), dict) else doc
    if result.get("status") != "success":
        return None
    if key is not None and result.get("result_key") != key:
        log.info("resume_rejected", folder=str(folder),
                 reason="made from another input or configuration" if result.get("result_key") else "no result key")
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
