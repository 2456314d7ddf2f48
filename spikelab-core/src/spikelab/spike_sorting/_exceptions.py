"""Classified sort failures: what went wrong, what family it belongs to, and the evidence.

Every classified exception has a ``status`` (the string a batch script dispatches on, also
stored in :class:`~spikelab.spike_sorting.results.RecordingResult`) and evidence attributes:
``sorter``, ``stage``, ``log_path`` and ``matched_line`` for all of them, plus the fields a
subclass declares in ``evidence_fields``. They pickle with their evidence, so they survive child
processes and Dask workers.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

from spikelab.errors import ConfigError, SpikeLabError, did_you_mean

#: Every status string a RecordingResult can carry.
STATUSES: tuple[str, ...] = (
    "success",
    "failed",
    "oom_gpu",
    "oom_host_ram",
    "oom_memoryerror",
    "sorter_timeout",
    "disk_exhausted",
    "gpu_thermal",
    "io_stall",
    "concurrent_sort",
    "not_sortable",
    "environment",
)

_COMMON_EVIDENCE = ("sorter", "stage", "log_path", "matched_line")


def _rebuild(cls: type, message: str, evidence: dict[str, Any]) -> SpikeSortingClassifiedError:
    return cls(message, **evidence)


class SpikeSortingClassifiedError(SpikeLabError, RuntimeError):
    """Root of the classified sort failures (a ``RuntimeError``, as the guide promises).

    Parameters
    ----------
    message : str
        What happened and what to do about it.
    sorter : str, optional
        The backend that was running.
    stage : str, optional
        Pipeline stage (``"preflight"``, ``"sort"``, ``"waveforms"``, ...).
    log_path : str or Path, optional
        The log that holds the evidence.
    matched_line : str, optional
        The log or traceback line that identified the failure.
    **evidence
        Subclass-specific fields listed in ``evidence_fields``.
    """

    status: ClassVar[str] = "failed"
    evidence_fields: ClassVar[tuple[str, ...]] = ()
    #: Whether the pipeline retries it with the backend's OOM knob reduced.
    oom_retryable: ClassVar[bool] = False

    def __init__(self, message: str = "", **evidence: Any) -> None:
        super().__init__(message)
        allowed = self.all_evidence_fields()
        unknown = sorted(set(evidence) - set(allowed))
        if unknown:
            raise TypeError(f"{type(self).__name__} got unknown evidence field(s) {unknown}")
        for name in allowed:
            value = evidence.get(name)
            if name == "log_path" and value is not None:
                value = str(value)
            setattr(self, name, value)

    @classmethod
    def all_evidence_fields(cls) -> tuple[str, ...]:
        fields: list[str] = list(_COMMON_EVIDENCE)
        for klass in reversed(cls.__mro__):
            for name in vars(klass).get("evidence_fields", ()):
                if name not in fields:
                    fields.append(name)
        return tuple(fields)

    @property
    def message(self) -> str:
        return str(self.args[0]) if self.args else ""

    def evidence(self) -> dict[str, Any]:
        """The evidence attributes as a dict (JSON-friendly where the values are)."""
        return {name: getattr(self, name, None) for name in self.all_evidence_fields()}

    @property
    def family(self) -> str:
        """``"biological"``, ``"environment"``, ``"resource"`` or ``"unclassified"``."""
        for base, name in (
            (BiologicalSortFailure, "biological"),
            (EnvironmentSortFailure, "environment"),
            (ResourceSortFailure, "resource"),
        ):
            if isinstance(self, base):
                return name
        return "unclassified"

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuild, (type(self), self.message, self.evidence()))

    def __str__(self) -> str:
        text = self.message
        details = [f"sorter={self.sorter}"] if getattr(self, "sorter", None) else []
        if getattr(self, "matched_line", None):
            details.append(f"matched: {self.matched_line!r}")
        if getattr(self, "log_path", None):
            details.append(f"log: {self.log_path}")
        return f"{text} [{'; '.join(details)}]" if details else text


# -- the three families ----------------------------------------------------------------------
class BiologicalSortFailure(SpikeSortingClassifiedError):
    """The recording itself cannot be sorted (too silent, all channels bad). Mark and move on."""

    status = "not_sortable"


class EnvironmentSortFailure(SpikeSortingClassifiedError):
    """The host or container environment is misconfigured. Stop and fix it."""

    status = "environment"


class ResourceSortFailure(SpikeSortingClassifiedError):
    """A machine resource ran out. Retry with smaller parameters or on a bigger machine."""

    status = "failed"


# -- biological ------------------------------------------------------------------------------
class InsufficientActivityError(BiologicalSortFailure):
    """Too few spikes or units for the sorter to work with."""

    evidence_fields = ("threshold_crossings", "units_at_failure", "nspks_at_failure")


class NoGoodChannelsError(BiologicalSortFailure):
    """Every channel was rejected as bad."""

    evidence_fields = ("total_channels", "bad_channels")


class SaturatedSignalError(BiologicalSortFailure):
    """Most channels sit on the amplifier rail."""

    evidence_fields = ("channels_saturated", "total_channels")


class EmptyWaveformMetricsError(BiologicalSortFailure, ValueError):
    """No waveforms are available to compute a metric on."""

    evidence_fields = ("metric_name",)


# -- environment -----------------------------------------------------------------------------
class ConcurrentSortError(EnvironmentSortFailure):
    """Another live process holds this recording's sort lock."""

    status = "concurrent_sort"
    evidence_fields = ("lock_path", "holder_pid", "holder_hostname", "started_at")


class HDF5PluginMissingError(EnvironmentSortFailure):
    """The HDF5 compression filter needed to read the file is not available."""

    evidence_fields = ("configured_path", "file_path")


class DockerEnvironmentError(EnvironmentSortFailure):
    """Docker is missing, down, forbidden, or the image cannot be had."""

    evidence_fields = ("reason", "image")


class ModelLoadingError(EnvironmentSortFailure):
    """A detection model folder is missing or malformed."""

    evidence_fields = ("model_path", "missing")


class SorterDependencyError(EnvironmentSortFailure):
    """A sorter prerequisite (MATLAB, Kilosort source, a Python package) is missing."""

    evidence_fields = ("dependency", "remedy")


class GpuNotAvailableError(EnvironmentSortFailure):
    """A GPU was requested but none is usable."""

    evidence_fields = ("device",)


class PermissionDeniedError(EnvironmentSortFailure):
    """A folder the pipeline must write to is not writable."""

    evidence_fields = ("folder",)


# -- resource --------------------------------------------------------------------------------
class GPUOutOfMemoryError(ResourceSortFailure):
    """The sorter ran out of GPU memory."""

    status = "oom_gpu"
    oom_retryable = True


class GpuMemoryWatchdogError(ResourceSortFailure):
    """The GPU memory watchdog stopped the sort above its abort percentage."""

    status = "oom_gpu"
    oom_retryable = True
    evidence_fields = ("device_index", "used_pct_at_trip", "abort_pct")


class GpuThermalWatchdogError(ResourceSortFailure):
    """The GPU crossed the thermal abort threshold."""

    status = "gpu_thermal"
    evidence_fields = ("device_index", "temperature_c_at_trip", "abort_temp_c")


class HostMemoryWatchdogError(ResourceSortFailure):
    """Host RAM use crossed the abort percentage; the sort was stopped."""

    status = "oom_host_ram"
    evidence_fields = ("percent_at_trip", "abort_pct")


class HostMemoryError(ResourceSortFailure):
    """Python raised ``MemoryError`` during the sort."""

    status = "oom_memoryerror"


class SorterTimeoutError(ResourceSortFailure):
    """The sorter's log went silent for longer than the inactivity tolerance."""

    status = "sorter_timeout"
    evidence_fields = ("inactivity_s",)


class DiskExhaustionError(ResourceSortFailure):
    """Free disk fell below the abort threshold."""

    status = "disk_exhausted"
    evidence_fields = ("folder", "free_gb_at_trip", "abort_threshold_gb", "report_path")


class IOStallError(ResourceSortFailure):
    """Kernel I/O byte counters stopped advancing (hung share or failing disk)."""

    status = "io_stall"
    evidence_fields = ("device", "stall_s")


class SorterOutputError(SpikeSortingClassifiedError):
    """The sorter ended without error but its output cannot be read (nothing is cached)."""

    status = "failed"


#: What the canary and batch policies treat as a decided failure.
CLASSIFIED_FAILURES = (BiologicalSortFailure, EnvironmentSortFailure, ResourceSortFailure)


# -- unclassified ----------------------------------------------------------------------------
class SorterProcessError(SpikeLabError, RuntimeError):
    """The sorter failed in a way no classifier recognised; carries the log tail as evidence."""

    status = "failed"

    def __init__(
        self,
        message: str,
        *,
        sorter: str | None = None,
        exit_code: int | None = None,
        log_path: str | None = None,
        traceback_text: str | None = None,
    ) -> None:
        super().__init__(message)
        self.sorter = sorter
        self.exit_code = exit_code
        self.log_path = None if log_path is None else str(log_path)
        self.traceback_text = traceback_text

    def __reduce__(self) -> tuple[Any, ...]:
        return (
            _rebuild_process_error,
            (self.args[0], self.sorter, self.exit_code, self.log_path, self.traceback_text),
        )


def _rebuild_process_error(message, sorter, exit_code, log_path, traceback_text):
    return SorterProcessError(
        message, sorter=sorter, exit_code=exit_code, log_path=log_path, traceback_text=traceback_text
    )


class UnknownSorterError(ConfigError, KeyError):
    """No installed backend has this name."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""

    @classmethod
    def for_name(
        cls, name: str, installed: list[str], missing: str | None = None, known: Sequence[str] = ()
    ) -> UnknownSorterError:
        """The error for sorter ``name``: ``missing`` (why its distribution did not provide it,
        from :meth:`SpikeLabPluginManager.unavailable`) or close matches among ``installed``
        and ``known`` names."""
        if missing is not None:
            return cls(f"{missing} Installed sorters: {installed or 'none'}.")
        hint = did_you_mean(str(name), [*installed, *known])
        return cls(f"Unknown sorter {name!r}.{hint} Installed sorters: {installed or 'none'}.")


def status_of(error: BaseException | None) -> str:
    """The ``RecordingResult.status`` string for an outcome (``None`` means success)."""
    if error is None:
        return "success"
    status = getattr(error, "status", None)
    if isinstance(status, str) and status in STATUSES:
        return status
    if isinstance(error, MemoryError):
        return "oom_memoryerror"
    return "failed"


__all__ = [name for name in dir() if name.endswith(("Error", "Failure"))] + [
    "CLASSIFIED_FAILURES",
    "STATUSES",
    "status_of",
]
