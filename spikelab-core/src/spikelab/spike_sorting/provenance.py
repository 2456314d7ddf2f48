"""What a result was made from, and the record of every run that touched a results folder.

* :func:`result_key`: the key of a recording's result (input fingerprint + effective
  configuration), stored in ``recording_report.json`` and compared on resume.
* :func:`append_run`: one line per run in ``<results>/run_history.jsonl``, so a cached rerun (a
  curation-only change) adds an entry instead of erasing the record of the run that sorted.

Only the holder of the recording's sort lock writes either.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from spikelab.atomic import dumps
from spikelab.spike_sorting import cache

if TYPE_CHECKING:
    from spikeinterface.core import BaseRecording

    from spikelab.spike_sorting.backend import SorterBackend
    from spikelab.spike_sorting.config import SortingPipelineConfig


def result_key(
    config: SortingPipelineConfig,
    backend: SorterBackend,
    source: str | Path | None,
    recording: BaseRecording | None = None,
) -> str:
    """SHA-256 of everything that shapes a recording's result.

    That is the input's fingerprint (its files' sizes and modification times, or a digest of an
    in-memory recording's traces), the backend and its version, and every configuration value
    that changes the output: the recording, sorter (with its resolved parameters), waveform and
    curation sections and the random seed. Left out: how the work is run (workers, progress
    bars, watchdogs, retries) and the backend's out-of-memory knob, which batch retries shrink.
    """
    data = config.to_dict()
    params = dict(backend.resolve_params(config))
    if backend.oom_knob is not None:
        params.pop(backend.oom_knob.name, None)
    knobs = {
        "recording": data["recording"],
        "sorter": {k: v for k, v in data["sorter"].items() if k != "sorter_params"},
        "params": params,
        "waveform": data["waveform"],
        "curation": data["curation"],
        "random_seed": config.execution.random_seed,
    }
    files = cache.source_files(source)
    if files:
        inputs: Any = cache.file_fingerprints(files)
    elif recording is not None:
        inputs = cache.recording_fingerprint(recording, None)
    else:
        inputs = str(source)
    return cache.make_key("result", backend.name, backend.version, knobs, inputs)




HISTORY_NAME = "run_history.jsonl"
#: The fields of a RecordingResult each history entry keeps.
_ENTRY_FIELDS = (
    "status", "wall_time_s", "cached_stages", "stage_times_s", "n_units", "n_curated_units",
    "retries_used", "error_class", "result_key", "sorter_choice",
)


def append_run(results_folder: str | Path, result: Any, *, sorter: str, versions: dict[str, Any]) -> dict[str, Any]:
    """Add this run's entry to ``<results>/run_history.jsonl`` (append, fsynced); returns it."""
    import datetime as _dt
    import os

    entry = {
        "finished_at": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "sorter": sorter,
        **{name: getattr(result, name) for name in _ENTRY_FIELDS},
        "versions": versions,
    }
    path = Path(results_folder) / HISTORY_NAME
    path.parent.mkdir(parents=True, exist_ok=True)
    line = dumps(entry, sort_keys=True) + "\n"
    with open(path, "a", encoding="utf-8") as handle:
        handle.write(line)
        handle.flush()
        os.fsync(handle.fileno())
    return entry


def read_history(results_folder: str | Path) -> list[dict[str, Any]]:
    """The entries of ``run_history.jsonl``, oldest first (a line cut by a kill is skipped)."""
    import json

    entries = []
    try:
        lines = (Path(results_folder) / HISTORY_NAME).read_text(encoding="utf-8").splitlines()
    except OSError:
        return []
    for line in lines:
        try:
            entries.append(json.loads(line))
        except ValueError:
            continue
    return entries


def sorting_run(history: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The latest successful entry that really sorted (its sort stage was not a cache hit)."""
    for entry in reversed(history):
        if entry.get("status") == "success" and "sort" not in (entry.get("cached_stages") or []):
            return entry
    return None


#: The one run-record file every backend's sorter folder gets (written through here).
RUN_RECORD = "spikelab_run.json"


def write_run_record(sorter_folder: str | Path, record: dict[str, Any]) -> Path:
    """Write a backend run's record (``<sorter folder>/spikelab_run.json``) atomically.

    Common fields are ``sorter``, ``params``, ``versions`` and timings; each backend adds its own
    facts as further fields (Kilosort4's device and options, Kilosort2's binary and how MATLAB
    ran, RT-Sort's model and counts).
    """
    from spikelab.atomic import write_json

    return write_json(Path(sorter_folder) / RUN_RECORD, record)


def read_run_record(sorter_folder: str | Path) -> dict[str, Any]:
    """The run record of a sorter folder (``{}`` when there is none or it is unreadable)."""
    import json

    try:
        return json.loads((Path(sorter_folder) / RUN_RECORD).read_text())
    except (OSError, ValueError):
        return {}
