"""Preflight checks of the machine: write access, free disk, host RAM and GPU memory.

Each check returns a list of findings (empty when all is well)."""

from __future__ import annotations

import os
import tempfile
from collections import defaultdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

from spikelab.spike_sorting.guards._disk import free_bytes, nearest_existing, volume_id
from spikelab.spike_sorting.guards.gpu import resolve_device_index

if TYPE_CHECKING:
    from spikelab.spike_sorting.backend import SorterBackend
    from spikelab.spike_sorting.config import SortingPipelineConfig
    from spikelab.spike_sorting.guards.preflight import PreflightFinding, PreflightProbes

GB = 1e9



def _finding(level: str, code: str, message: str, family: str, **evidence: Any) -> PreflightFinding:
    from spikelab.spike_sorting.guards.preflight import PreflightFinding

    error = evidence.pop("error", None)
    return PreflightFinding(
        level=level, code=code, message=message, family=family, evidence=evidence, error=error
    )


def disk_factor(backend: SorterBackend) -> float:
    """Intermediate disk per byte of recording, as the backend declares it."""
    return float(backend.disk_factor)


def recording_bytes(recording: Any) -> int:
    """Size of the recording as raw binary: channels x samples x bytes per sample."""
    n_samples = sum(recording.get_num_samples(i) for i in range(recording.get_num_segments()))
    return int(recording.get_num_channels()) * int(n_samples) * int(recording.get_dtype().itemsize)


def _existing_bytes(folder: Path, limit_files: int = 10000) -> int:
    """Bytes already in ``folder`` (a cached binary is reused or overwritten, not duplicated)."""
    total, count = 0, 0
    if not folder.is_dir():
        return 0
    for dirpath, _, filenames in os.walk(folder):
        for name in filenames:
            count += 1
            if count > limit_files:
                return total
            try:
                total += os.lstat(os.path.join(dirpath, name)).st_size
            except OSError:
                continue
    return total


def check_writable(folders: list[Path], kind: str) -> list[PreflightFinding]:
    findings = []
    for folder in folders:
        anchor = nearest_existing(folder)
        reason = None
        if not anchor.is_dir():
            reason = f"{anchor} exists and is not a folder"
        else:
            try:
                fd, probe = tempfile.mkstemp(prefix=".spikelab_write_test_", dir=anchor)
                os.close(fd)
                os.unlink(probe)
            except OSError as exc:
                reason = f"{anchor} is not writable ({exc.strerror or exc})"
        if reason:
            findings.append(
                _finding(
                    "fail",
                    f"{kind}_not_writable",
                    f"Cannot write the {kind} folder {folder}: {reason}. Choose a folder you can write to "
                    f"({kind}_folders=...) or fix its permissions.",
                    "environment",
                    folder=str(folder),
                )
            )
    return findings


def check_disk(
    config: SortingPipelineConfig,
    backend: SorterBackend,
    recordings: list[Any],
    inter: list[Path],
    results: list[Path],
    probes: PreflightProbes,
) -> list[PreflightFinding]:
    execution = config.execution
    findings = []
    factor = disk_factor(backend)
    need: dict[Any, float] = defaultdict(float)
    where: dict[Any, Path] = {}
    for recording, folder in zip(recordings, inter):
        try:
            key = volume_id(folder) if probes.disk_usage is None else str(nearest_existing(folder))
        except OSError:
            key = str(folder)
        estimate = max(0, recording_bytes(recording) * factor - _existing_bytes(Path(folder)))
        need[key] += estimate
        where.setdefault(key, Path(folder))
    abort_floor = execution.disk_abort_free_gb if execution.disk_watchdog else 0.0
    for key, estimate in need.items():
        folder = where[key]
        free = free_bytes(folder, probes.disk_usage)
        required = estimate + max(execution.preflight_min_free_inter_gb, abort_floor) * GB
        evidence = {
            "folder": str(folder),
            "free_gb": round(free / GB, 3),
            "required_gb": round(required / GB, 3),
        }
        if free < required:
            findings.append(
                _finding(
                    "fail",
                    "low_disk_inter",
                    f"Not enough free disk for the intermediate files in {folder}: {free / GB:.2f} GB free, "
                    f"about {required / GB:.2f} GB needed ({estimate / GB:.2f} GB estimated for the binary copy "
                    f"and the {backend.name} working files, plus a {required / GB - estimate / GB:.2f} GB margin). "
                    "Free space, or point intermediate_folders at a bigger volume.",
                    "resource",
                    **evidence,
                )
            )
        elif free - estimate < execution.disk_warn_free_gb * GB:
            findings.append(
                _finding(
                    "warn",
                    "low_disk_inter",
                    f"Intermediate volume of {folder} will be nearly full during the sort ({free / GB:.2f} GB "
                    f"free, {estimate / GB:.2f} GB needed); the disk watchdog may stop it.",
                    "resource",
                    **evidence,
                )
            )
    seen = set()
    for folder in results:
        anchor = nearest_existing(folder)
        if anchor in seen:
            continue
        seen.add(anchor)
        free = free_bytes(folder, probes.disk_usage)
        if free < execution.preflight_min_free_results_gb * GB:
            findings.append(
                _finding(
                    "fail",
                    "low_disk_results",
                    f"Only {free / GB:.2f} GB free for the results in {folder} (at least "
                    f"{execution.preflight_min_free_results_gb:g} GB needed). Free space or choose other "
                    "results_folders.",
                    "resource",
                    folder=str(folder),
                    free_gb=round(free / GB, 3),
                    required_gb=execution.preflight_min_free_results_gb,
                )
            )
    return findings


def check_ram(config: SortingPipelineConfig, probes: PreflightProbes) -> list[PreflightFinding]:
    available = probes.available_ram()
    minimum = config.execution.preflight_min_available_ram_gb
    if available is None or available >= minimum * GB:
        return []
    return [
        _finding(
            "warn",
            "low_ram",
            f"Only {available / GB:.2f} GB of host RAM available (preflight_min_available_ram_gb="
            f"{minimum:g}). Close other programs or lower n_jobs / total_memory.",
            "resource",
            available_gb=round(available / GB, 3),
        )
    ]


#: Sorters and SpikeInterface's parallel writers open many files; below this, "Too many open files".
MIN_OPEN_FILES = 4096


def check_open_files(probes: PreflightProbes) -> list[PreflightFinding]:
    limit = probes.open_files_limit()
    if limit is None or limit >= MIN_OPEN_FILES:
        return []
    return [
        _finding(
            "warn",
            "low_rlimit_nofile",
            f"This process may open only {limit} files (ulimit -n); parallel sorting and waveform "
            f"extraction can fail with 'Too many open files'. Raise it to at least {MIN_OPEN_FILES} "
            f"(`ulimit -n {MIN_OPEN_FILES}` before starting Python).",
            "environment",
            limit=limit,
        )
    ]


def check_gpu(
    config: SortingPipelineConfig, backend: SorterBackend, probes: PreflightProbes
) -> list[PreflightFinding]:
    if not backend.needs_gpu(config):
        return []
    nvml = probes.load_nvml()
    if nvml is None:
        return [
            _finding(
                "warn",
                "vram_unknown",
                f"{backend.name} uses a GPU but NVML is not available, so free GPU memory cannot be checked "
                "and the GPU watchdog is off (install the NVIDIA driver; nvidia-ml-py is already a dependency).",
                "resource",
            )
        ]
    try:
        index = resolve_device_index(backend.resolve_params(config), backend.device_param)
        count = nvml.nvmlDeviceGetCount()
        if index >= count:
            return [
                _finding(
                    "fail",
                    "gpu_device_not_present",
                    f"GPU {index} was requested but only {count} GPU(s) are visible. Choose an existing device "
                    "(torch_device='cuda:0') or check CUDA_VISIBLE_DEVICES.",
                    "environment",
                    device=str(index),
                )
            ]
        memory = nvml.nvmlDeviceGetMemoryInfo(nvml.nvmlDeviceGetHandleByIndex(index))
        minimum = config.execution.preflight_min_free_vram_gb
        if memory.free < minimum * GB:
            return [
                _finding(
                    "warn",
                    "low_vram",
                    f"GPU {index} has only {memory.free / GB:.2f} GB free (preflight_min_free_vram_gb={minimum:g}); "
                    "another job may be using it. Expect OOM retries with a smaller batch.",
                    "resource",
                    device=str(index),
                    free_gb=round(memory.free / GB, 3),
                )
            ]
        return []
    finally:
        try:
            nvml.nvmlShutdown()
        except Exception:
            pass
