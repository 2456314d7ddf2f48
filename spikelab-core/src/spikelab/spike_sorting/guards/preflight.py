"""Preflight: checks run before each sort, so a doomed run fails in seconds, not hours.

:func:`run_preflight` checks free disk on the intermediate and results volumes against an
estimate from the recording size, available host RAM, free GPU memory (GPU backends), the
backend's own prerequisites (``backend.check_environment``), that the first samples of each
recording can be read (a missing HDF5 compression filter shows up here) and that every output
folder is writable. :func:`raise_for_findings` logs the warnings and raises the classified
exception of the first failure, whose message names the fix.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import attrs
import psutil
import structlog

from spikelab.errors import InputError
from spikelab.spike_sorting import _exceptions as ex
from spikelab.spike_sorting.guards import _preflight_checks as checks
from spikelab.spike_sorting.guards import _preflight_inputs as inputs
from spikelab.spike_sorting.guards._disk import DiskProbe
from spikelab.spike_sorting.guards.gpu import load_nvml

if TYPE_CHECKING:
    from spikelab.spike_sorting.backend import SorterBackend
    from spikelab.spike_sorting.config import SortingPipelineConfig

log = structlog.get_logger("spikelab.preflight")

LEVELS = ("fail", "warn")
FAMILIES = ("environment", "resource")


@attrs.frozen(kw_only=True)
class PreflightFinding:
    """One problem found before a sort.

    Parameters
    ----------
    level : str
        ``"fail"`` (the sort cannot succeed) or ``"warn"``.
    code : str
        Stable identifier: ``low_disk_inter``, ``low_disk_results``, ``low_ram``, ``vram_unknown``,
        ``low_vram``, ``gpu_device_not_present``, ``sorter_dependency_missing``,
        ``hdf5_plugin_missing``, ``recording_empty``, ``recording_unreadable``,
        ``intermediate_not_writable``, ``results_not_writable``, ``folder_count_mismatch``,
        ``low_rlimit_nofile``, ``docker_unavailable``, ``model_missing``.
    message : str
        What is wrong, naming the input and the fix.
    family : str
        ``"environment"`` or ``"resource"``.
    evidence : dict
        Measurements behind the finding (folder, free_gb, required_gb, ...).
    error : SpikeSortingClassifiedError, optional
        A classified exception a backend's check returned, raised as is.
    """

    level: str = attrs.field(validator=attrs.validators.in_(LEVELS))
    code: str
    message: str
    family: str = attrs.field(default="environment", validator=attrs.validators.in_(FAMILIES))
    evidence: dict[str, Any] = attrs.field(factory=dict, eq=False)
    error: BaseException | None = attrs.field(default=None, eq=False, repr=False)


def _available_ram() -> int | None:
    try:
        return int(psutil.virtual_memory().available)
    except Exception:
        return None


def _open_files_limit() -> int | None:
    try:
        import resource
    except ImportError:  # Windows
        return None
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    return None if soft == resource.RLIM_INFINITY else int(soft)


@attrs.frozen(kw_only=True)
class PreflightProbes:
    """Where preflight reads the machine's state (tests inject their own).

    Parameters
    ----------
    disk_usage : callable, optional
        ``disk_usage(path) -> (total, used, free)``; default :func:`shutil.disk_usage`.
    available_ram : callable
        Bytes of host RAM available, or None when unknown.
    load_nvml : callable
        An initialised ``pynvml`` module, or None.
    open_files_limit : callable
        The soft limit on open files (None when unlimited or unknown).
    """

    disk_usage: DiskProbe | None = None
    available_ram: Callable[[], int | None] = _available_ram
    load_nvml: Callable[[], Any] = load_nvml
    open_files_limit: Callable[[], int | None] = _open_files_limit


def run_preflight(
    config: SortingPipelineConfig,
    backend: SorterBackend,
    recordings: Sequence[Any],
    intermediate_folders: Sequence[Path | str],
    results_folders: Sequence[Path | str],
    *,
    probes: PreflightProbes | None = None,
) -> list[PreflightFinding]:
    """Check that the sorts about to start can succeed; return what was found.

    Parameters
    ----------
    config : SortingPipelineConfig
        Thresholds come from ``config.execution`` (``preflight_min_*``, ``disk_*``).
    backend : SorterBackend
        The backend that will sort.
    recordings : sequence of BaseRecording
        The opened recordings (a few samples of each are read).
    intermediate_folders, results_folders : sequence of Path
        One per recording; they need not exist yet.
    probes : PreflightProbes, optional
        Replacements for the disk, RAM and NVML probes.

    Returns
    -------
    list of PreflightFinding
        Empty when all is well.
    """
    probes = probes or PreflightProbes()
    inter = [Path(f) for f in intermediate_folders]
    results = [Path(f) for f in results_folders]
    recordings = list(recordings)
    if not (len(recordings) == len(inter) == len(results)):
        return [
            checks._finding(
                "fail",
                "folder_count_mismatch",
                f"{len(recordings)} recording(s) but {len(inter)} intermediate and {len(results)} results "
                "folder(s); pass one folder per recording.",
                "environment",
            )
        ]
    findings: list[PreflightFinding] = []
    findings += inputs.check_environment(config, backend)
    findings += checks.check_writable(inter, "intermediate")
    findings += checks.check_writable(results, "results")
    findings += inputs.check_recordings(config, recordings)
    if not any(f.level == "fail" and f.code.startswith("recording_") for f in findings):
        findings += inputs.check_backend_recordings(config, backend, recordings)
    findings += checks.check_disk(config, backend, recordings, inter, results, probes)
    findings += checks.check_ram(config, probes)
    findings += checks.check_open_files(probes)
    findings += checks.check_gpu(config, backend, probes)
    log.debug("preflight_done", sorter=backend.name, findings=[f.code for f in findings])
    return findings


_RAISE_AS: dict[str, type[Exception]] = {
    "hdf5_plugin_missing": ex.HDF5PluginMissingError,
    "sorter_dependency_missing": ex.SorterDependencyError,
    "docker_unavailable": ex.DockerEnvironmentError,
    "model_missing": ex.ModelLoadingError,
    "gpu_device_not_present": ex.GpuNotAvailableError,
    "intermediate_not_writable": ex.PermissionDeniedError,
    "results_not_writable": ex.PermissionDeniedError,
    "low_disk_inter": ex.DiskExhaustionError,
    "low_disk_results": ex.DiskExhaustionError,
    "recording_empty": InputError,
    "recording_unreadable": InputError,
}


def finding_error(finding: PreflightFinding, *, sorter: str | None = None) -> Exception:
    """The exception that a failing ``finding`` raises."""
    if finding.error is not None:
        return finding.error
    cls = _RAISE_AS.get(finding.code)
    if cls is None:
        cls = ex.EnvironmentSortFailure if finding.family == "environment" else ex.ResourceSortFailure
    if not issubclass(cls, ex.SpikeSortingClassifiedError):
        return cls(finding.message)
    allowed = set(cls.all_evidence_fields())
    evidence = dict(finding.evidence)
    if cls is ex.DiskExhaustionError:
        evidence["free_gb_at_trip"] = evidence.pop("free_gb", None)
        evidence["abort_threshold_gb"] = evidence.pop("required_gb", None)
    kept = {k: v for k, v in evidence.items() if k in allowed}
    return cls(finding.message, sorter=sorter, stage="preflight", **kept)


def raise_for_findings(
    findings: Sequence[PreflightFinding], *, strict: bool = False, sorter: str | None = None
) -> None:
    """Log every finding; raise the first failure's classified exception.

    Parameters
    ----------
    findings : sequence of PreflightFinding
        From :func:`run_preflight`.
    strict : bool, default: False
        Treat warnings as failures (``ExecutionConfig.preflight_strict``).
    sorter : str, optional
        Recorded as evidence on the exception.

    Raises
    ------
    SpikeSortingClassifiedError
        For the first failing finding (``HDF5PluginMissingError``, ``SorterDependencyError``,
        ``PermissionDeniedError``, ``DiskExhaustionError``, ...); the message lists any other
        failures too.
    InputError
        When a recording is empty or unreadable.
    """
    failing = []
    for finding in findings:
        fatal = finding.level == "fail" or strict
        (log.error if fatal else log.warning)(
            "preflight_" + ("failed" if fatal else "warning"),
            code=finding.code,
            message=finding.message,
            sorter=sorter,
        )
        if fatal:
            failing.append(finding)
    if not failing:
        return
    error = finding_error(failing[0], sorter=sorter)
    if len(failing) > 1 and error is not failing[0].error:
        others = "; ".join(f"{f.code}: {f.message}" for f in failing[1:])
        error.args = (f"{error.args[0]} (Also found: {others})",)
    raise error


__all__ = ["PreflightFinding", "PreflightProbes", "finding_error", "raise_for_findings", "run_preflight"]
