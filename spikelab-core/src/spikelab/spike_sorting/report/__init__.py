"""Reports of a sorted recording: ``recording_report.json`` and ``sorting_report.md`` with figures.

The JSON (schema ``spikelab.recording_report``, versioned) is written for every recording,
failures included; the Markdown renders the same document with PNG figures beside it, and
:func:`regenerate_report` renders it again from a results folder (``spikelab report FOLDER``).
"""

from __future__ import annotations

from spikelab.spike_sorting.report._data import REPORT_JSON, REPORT_MD, SCHEMA, SCHEMA_VERSION
from spikelab.spike_sorting.report.write import (
    regenerate_report,
    write_recording_report,
    write_sorting_report,
)

__all__ = [
    "REPORT_JSON",
    "REPORT_MD",
    "SCHEMA",
    "SCHEMA_VERSION",
    "regenerate_report",
    "write_recording_report",
    "write_sorting_report",
]
