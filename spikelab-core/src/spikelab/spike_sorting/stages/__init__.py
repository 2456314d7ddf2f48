"""The pipeline's stages, one module each, run in this order for every recording.

``load -> preflight -> lock -> canary -> preprocess -> sort -> waveforms -> curation -> report
-> epochs``. ``load`` and ``preflight`` run for the whole batch before any long work; the rest
run per recording under its sort lock. Each stage logs one structlog event named
``stage_<name>`` with its duration (and whether a cache was reused), and records its time in
:attr:`RecordingResult.stage_times_s`.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import attrs
import structlog

from spikelab.spike_sorting.interrupts import as_disk_error

if TYPE_CHECKING:
    from spikeinterface.core import BaseRecording, BaseSorting

    from spikelab.plugins import SpikeLabPluginManager
    from spikelab.spike_sorting.backend import SorterBackend
    from spikelab.spike_sorting.config import SortingPipelineConfig
    from spikelab.spike_sorting.folders import Manifest
    from spikelab.spike_sorting.io import LoadedRecording
    from spikelab.spike_sorting.results import RecordingResult
    from spikelab.spikedata import SpikeData

log = structlog.get_logger("spikelab.pipeline")


@attrs.define(kw_only=True)
class RecordingRun:
    """Everything the stages share about one recording's run."""

    config: SortingPipelineConfig
    backend: SorterBackend
    manager: SpikeLabPluginManager
    loaded: LoadedRecording
    intermediate: Path
    results: Path
    result: RecordingResult
    manifest: Manifest | None = None
    results_manifest: Manifest | None = None
    recording_key: str | None = None
    sorting_key: str | None = None
    prepared: BaseRecording | None = None
    sorting: BaseSorting | None = None
    sd_raw: SpikeData | None = None
    sd_curated: SpikeData | None = None
    curation_results: dict[str, Any] | None = None
    curation_history: dict[str, Any] | None = None
    epochs: list[SpikeData] = attrs.field(factory=list)
    #: stages whose output was rebuilt in this run (everything downstream is rebuilt too)
    rebuilt: set[str] = attrs.field(factory=set)

    @property
    def name(self) -> str:
        return self.loaded.name

    @property
    def duration_s(self) -> float:
        recording = self.loaded.recording
        return recording.get_num_samples(0) / recording.get_sampling_frequency()

    def created(self, path: Path) -> Path:
        """Claim ``path`` (inside the intermediate folder) in the folder's manifest.

        Raises
        ------
        FolderConflictError
            When ``path`` exists but the pipeline did not create it.
        """
        if self.manifest is not None:
            self.manifest.claim(path)
        return path


@contextlib.contextmanager
def stage(name: str, result: RecordingResult | None = None, **context: Any) -> Iterator[dict[str, Any]]:
    """Time a stage; yields a dict the stage may add log fields to (``cached=True``, counts).

    Logs ``stage_<name>`` once, with ``duration_s`` and ``ok``; adds the time to ``result``.
    """
    fields: dict[str, Any] = dict(context)
    if result is not None:
        fields.setdefault("recording", result.rec_name)
    start = time.perf_counter()
    ok = False
    try:
        yield fields
        ok = True
    except Exception as exc:
        converted = as_disk_error(exc, name)
        if converted is exc:
            raise
        raise converted from exc
    finally:
        elapsed = time.perf_counter() - start
        if result is not None:
            result.stage_times_s[name] = round(result.stage_times_s.get(name, 0.0) + elapsed, 4)
            if fields.get("cached"):
                result.cached_stages.append(name)
        (log.info if ok else log.warning)(f"stage_{name}", duration_s=round(elapsed, 3), ok=ok, **fields)
