"""Stage ``preflight``: environment and resource checks for the whole batch, before sorting."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from spikelab.spike_sorting.stages import stage

if TYPE_CHECKING:
    from spikelab.spike_sorting.backend import SorterBackend
    from spikelab.spike_sorting.config import SortingPipelineConfig
    from spikelab.spike_sorting.io import LoadedRecording


def run(
    config: SortingPipelineConfig,
    backend: SorterBackend,
    loaded: list[LoadedRecording],
    folders: list[tuple[Path, Path]],
) -> list:
    """Run the preflight checks; raises the classified error of the first failed check.

    Skipped when ``execution.preflight`` is False. Returns the findings (warnings are logged).
    """
    if not config.execution.preflight:
        return []
    from spikelab.spike_sorting.guards.preflight import raise_for_findings, run_preflight

    with stage("preflight", sorter=backend.name) as fields:
        findings = run_preflight(
            config,
            backend,
            [item.recording for item in loaded],
            [inter for inter, _ in folders],
            [results for _, results in folders],
        )
        fields["findings"] = [f"{f.level}:{f.code}" for f in findings]
        raise_for_findings(findings, strict=config.execution.preflight_strict, sorter=backend.name)
    return findings
