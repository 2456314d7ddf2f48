"""Stage ``report``: ``recording_report.json`` always, ``sorting_report.md`` after a success.

Run by the lock holder only. Each run first adds its entry to ``run_history.jsonl``; the reports
embed that history and name the run that really sorted, so a cached rerun (a curation-only
change) does not erase the record of the sort it reused.
"""

from __future__ import annotations

import importlib.metadata as metadata
import platform
from typing import Any

import structlog

from spikelab.spike_sorting.provenance import append_run
from spikelab.spike_sorting.stages import RecordingRun, stage

log = structlog.get_logger("spikelab.pipeline")


def versions(run: RecordingRun) -> dict[str, Any]:
    """Versions of everything that shaped the result."""
    backend_dist = run.backend.distribution.split()[0]
    # the backend once under its distribution's name (not also as "kilosort4": issue 22.10)
    found: dict[str, Any] = {"python": platform.python_version(), backend_dist: run.backend.version}
    for dist in ("spikelab-core", backend_dist, "spikeinterface", "numpy", *run.backend.reported_versions):
        try:
            found[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            continue
    return found


def run(run: RecordingRun) -> None:
    """Write the reports of a finished (successful or failed) recording.

    A report that cannot be written is logged, never allowed to hide the sort's own outcome.
    """
    from spikelab.spike_sorting.report import write_recording_report, write_sorting_report

    config = run.config
    if run.results_manifest is None:
        log.warning("recording_report_skipped", recording=run.name,
                    reason="the results folder was never claimed (see the error); nothing was written there")
        return
    with stage("report", run.result, status=run.result.status) as fields:
        run.results.mkdir(parents=True, exist_ok=True)
        append_run(run.results, run.result, sorter=run.backend.name, versions=versions(run))
        if run.result.ok and config.execution.generate_sorting_report:
            try:
                path = write_sorting_report(
                    run.results,
                    result=run.result,
                    config=config,
                    sd_raw=run.sd_raw,
                    sd_curated=run.sd_curated,
                    curation_results=run.curation_results or {},
                    versions=versions(run),
                    plugins=run.manager,
                )
                run.result.report_path = str(path)
            except Exception as exc:  # the sort succeeded; a figure bug must not lose it
                log.warning("sorting_report_failed", recording=run.name, error=f"{type(exc).__name__}: {exc}")
        path = write_recording_report(
            run.result, run.results, config=config, curation=run.curation_history, sd=run.sd_curated,
            plugins=run.manager,
        )
        fields["path"] = str(path)
