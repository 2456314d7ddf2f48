"""Reports of a sorted recording: ``recording_report.json`` and ``sorting_report.md`` with figures.

The JSON (schema ``spikelab.recording_report``, versioned) is written for every recording,
failures included; the Markdown renders the same document with PNG figures beside it, ``sorting_report.html`` is
the same again as one self-contained page with per-unit panels, and
:func:`regenerate_report` renders it again from a results folder (``spikelab report FOLDER``).
"""

from __future__ import annotations

from spikelab.spike_sorting.report._data import REPORT_JSON, REPORT_MD, SCHEMA, SCHEMA_VERSION
from spikelab.spike_sorting.report.html import INDEX_HTML, REPORT_HTML, write_index
from spikelab.spike_sorting.report.write import (
    regenerate_report,
    write_recording_report,
    write_sorting_report,
)

__all__ = [
    "INDEX_HTML",
    "REPORT_HTML",
    "REPORT_JSON",
    "REPORT_MD",
    "SCHEMA",
    "SCHEMA_VERSION",
    "regenerate_report",
    "write_index",
    "write_recording_report",
    "write_sorting_report",
]
