"""Preflight checks of the inputs: the backend's prerequisites and the recordings themselves."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

from spikelab.spike_sorting._exceptions import SpikeSortingClassifiedError
from spikelab.spike_sorting.guards._preflight_checks import _finding

if TYPE_CHECKING:
    from spikelab.spike_sorting.backend import SorterBackend
    from spikelab.spike_sorting.config import SortingPipelineConfig
    from spikelab.spike_sorting.guards.preflight import PreflightFinding


def check_environment(config: SortingPipelineConfig, backend: SorterBackend) -> list[PreflightFinding]:
    """The backend's own prerequisites, each problem a failing finding.

    A problem may be a classified exception (raised as is) or a sentence; sentences about the
    Docker engine (for Docker runs) and detection models get their specific codes so they raise
    :class:`DockerEnvironmentError` / :class:`ModelLoadingError`.
    """
    findings = []
    for problem in backend.check_environment(config) or []:
        if isinstance(problem, SpikeSortingClassifiedError):
            findings.append(
                _finding(
                    "fail",
                    _code_for(problem),
                    problem.message,
                    problem.family,
                    error=problem,
                )
            )
            continue
        text = str(problem)
        lowered = text.lower()
        if config.sorter.use_docker and "docker" in lowered:
            findings.append(
                _finding(
                    "fail",
                    "docker_unavailable",
                    f"{backend.name} cannot run here: {text}",
                    "environment",
                    reason="daemon_down" if "not reachable" in lowered or "daemon" in lowered else "docker",
                )
            )
        elif "model" in lowered and ("folder" in lowered or "path" in lowered):
            findings.append(
                _finding(
                    "fail",
                    "model_missing",
                    f"{backend.name} cannot run here: {text}",
                    "environment",
                )
            )
        else:
            findings.append(
                _finding(
                    "fail",
                    "sorter_dependency_missing",
                    f"{backend.name} cannot run here: {text}",
                    "environment",
                    dependency=_dependency_name(text, backend.name),
                    remedy=text,
                )
            )
    return findings


def check_backend_recordings(
    config: SortingPipelineConfig, backend: SorterBackend, recordings: list[Any]
) -> list[PreflightFinding]:
    """What the backend says it cannot sort (``backend.check_recording``), a failing finding each."""
    findings = []
    for index, recording in enumerate(recordings):
        for problem in backend.check_recording(recording, config) or []:
            if isinstance(problem, SpikeSortingClassifiedError):
                findings.append(_finding("fail", "recording_not_sortable", problem.message,
                                         problem.family, error=problem))
            else:
                findings.append(_finding("fail", "recording_not_sortable",
                                         f"{backend.name} cannot sort {_describe(recording, index)}: {problem}",
                                         "environment"))
    return findings


def _dependency_name(text: str, default: str) -> str:
    """The missing thing a sentence names: a quoted name ('kilosort'), a ``name:`` prefix, or ``default``."""
    quoted = re.search(r"['\"`]([A-Za-z_][\w.\-]*)['\"`]", text)
    if quoted:
        return quoted.group(1)
    head = text.split(":", 1)[0].strip()
    return head if ":" in text and re.fullmatch(r"[\w.\-]{1,40}", head) else default


def _code_for(error: SpikeSortingClassifiedError) -> str:
    name = type(error).__name__
    return {
        "DockerEnvironmentError": "docker_unavailable",
        "ModelLoadingError": "model_missing",
        "HDF5PluginMissingError": "hdf5_plugin_missing",
        "GpuNotAvailableError": "gpu_device_not_present",
    }.get(name, "sorter_dependency_missing")


def check_recordings(config: SortingPipelineConfig, recordings: list[Any]) -> list[PreflightFinding]:
    from spikelab.spike_sorting._exceptions import HDF5PluginMissingError
    from spikelab.spike_sorting.builtin_classifiers import classify_generic

    findings = []
    plugin_path = config.recording.hdf5_plugin_path
    if plugin_path is not None and not Path(plugin_path).is_dir():
        findings.append(
            _finding(
                "fail",
                "hdf5_plugin_missing",
                f"hdf5_plugin_path={plugin_path!r} is not a folder. Point it at the folder holding the HDF5 "
                "compression filter (Maxwell: libcompression.so from Maxwell Biosystems).",
                "environment",
                configured_path=str(plugin_path),
            )
        )
    for index, recording in enumerate(recordings):
        name = _describe(recording, index)
        n_channels = recording.get_num_channels()
        n_samples = recording.get_num_samples(0) if recording.get_num_segments() else 0
        if n_channels == 0 or n_samples == 0:
            findings.append(
                _finding(
                    "fail",
                    "recording_empty",
                    f"Recording {name} has {n_channels} channels and {n_samples} samples: nothing to sort. "
                    "Check the file, stream_id and the time window.",
                    "environment",
                    file_path=name,
                )
            )
            continue
        try:
            recording.get_traces(segment_index=0, start_frame=0, end_frame=min(n_samples, 16))
        except Exception as exc:
            classified = classify_generic("preflight", None, exc, "")
            if isinstance(classified, HDF5PluginMissingError):
                findings.append(
                    _finding(
                        "fail",
                        "hdf5_plugin_missing",
                        f"Cannot read {name}: its HDF5 compression filter is missing ({classified.matched_line}). "
                        + classified.message,
                        "environment",
                        file_path=name,
                        configured_path=os.environ.get("HDF5_PLUGIN_PATH"),
                        matched_line=classified.matched_line,
                    )
                )
            else:
                findings.append(
                    _finding(
                        "fail",
                        "recording_unreadable",
                        f"Cannot read the first samples of {name}: {type(exc).__name__}: {exc}. The file may be "
                        "truncated or corrupt; check it opens in its acquisition software.",
                        "environment",
                        file_path=name,
                    )
                )
    return findings


def _describe(recording: Any, index: int) -> str:
    for key in ("file_path", "folder_path", "file_paths"):
        value = getattr(recording, "_kwargs", {}).get(key)
        if value:
            return str(value)
    return f"#{index} ({type(recording).__name__})"
