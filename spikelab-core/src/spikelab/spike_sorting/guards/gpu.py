"""GPU watchdog: memory use and temperature of the sorter's GPU, read through NVML.

NVML comes from ``nvidia-ml-py`` (``import pynvml``). Without the NVML library (no NVIDIA driver,
as on CPU-only machines) the factory returns no watchdog. Memory use at or above ``gpu_abort_pct``
stops the sort with :class:`GpuMemoryWatchdogError`, which the pipeline retries with a smaller
batch like any GPU out-of-memory failure; a temperature at or above ``gpu_abort_temp_c`` stops it
with :class:`GpuThermalWatchdogError`.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import structlog

from spikelab.spike_sorting._exceptions import (
    GpuMemoryWatchdogError,
    GpuThermalWatchdogError,
    SpikeSortingClassifiedError,
)
from spikelab.spike_sorting.guards._polling import PollingWatchdog
from spikelab.spike_sorting.guards.events import EventLog, events_for

if TYPE_CHECKING:
    from spikelab.spike_sorting.guards.base import WatchContext

log = structlog.get_logger("spikelab.guards")


def load_nvml() -> Any | None:
    """The initialised ``pynvml`` module, or None when NVML is not usable here."""
    try:
        import pynvml
    except ImportError:
        return None
    try:
        pynvml.nvmlInit()
    except Exception as exc:  # NVMLError_LibraryNotFound, driver not loaded, ...
        log.debug("nvml_unavailable", error=f"{type(exc).__name__}: {exc}")
        return None
    return pynvml


def resolve_device_index(params: Mapping[str, Any], device_param: str | None) -> int:
    """NVML index of the GPU a sort uses: from the backend's declared device parameter
    (:attr:`SorterBackend.device_param`, ``"cuda:1"`` or 1), default 0.

    A numeric ``CUDA_VISIBLE_DEVICES`` is honoured (``cuda:0`` with ``CUDA_VISIBLE_DEVICES=2`` is
    NVML device 2).
    """
    index = 0
    value = params.get(device_param) if device_param else None
    if isinstance(value, str):
        match = re.fullmatch(r"\s*cuda(?::(\d+))?\s*", value)
        if match:
            index = int(match.group(1) or 0)
    elif isinstance(value, int) and not isinstance(value, bool):
        index = value
    visible = [v.strip() for v in os.environ.get("CUDA_VISIBLE_DEVICES", "").split(",") if v.strip()]
    if visible and all(v.isdigit() for v in visible) and index < len(visible):
        index = int(visible[index])
    return index


class GpuWatchdog(PollingWatchdog):
    """Watch one GPU's memory use and temperature.

    Parameters
    ----------
    nvml : module
        An initialised ``pynvml`` (or a fake with the same functions).
    device_index : int, default: 0
        NVML index of the device.
    warn_pct, abort_pct : float
        Memory use thresholds (% of the device's total).
    warn_temp_c, abort_temp_c : float
        Temperature thresholds (°C).
    poll_interval_s : float, default: 2.0
        Seconds between samples.
    events : EventLog, optional
        Where warnings and aborts are recorded.
    sorter : str, optional
        The sorter being watched.
    """

    name = "gpu_memory"

    def __init__(
        self,
        nvml: Any,
        *,
        device_index: int = 0,
        warn_pct: float = 85.0,
        abort_pct: float = 95.0,
        warn_temp_c: float = 85.0,
        abort_temp_c: float = 92.0,
        poll_interval_s: float = 2.0,
        events: EventLog | None = None,
        sorter: str | None = None,
    ) -> None:
        super().__init__(poll_interval_s=poll_interval_s, events=events, sorter=sorter)
        if not 0 < warn_pct <= abort_pct <= 100:
            raise ValueError(
                f"GPU watchdog needs 0 < warn_pct <= abort_pct <= 100, got {warn_pct}, {abort_pct}"
            )
        self.nvml = nvml
        self.device_index = device_index
        self.warn_pct, self.abort_pct = float(warn_pct), float(abort_pct)
        self.warn_temp_c, self.abort_temp_c = float(warn_temp_c), float(abort_temp_c)
        self.handle = nvml.nvmlDeviceGetHandleByIndex(device_index)
        self.peak_pct = 0.0
        self.peak_temp_c: float | None = None

    def source_for(self, error: SpikeSortingClassifiedError) -> str:
        return "gpu_thermal" if isinstance(error, GpuThermalWatchdogError) else "gpu_memory"

    def _temperature(self) -> float | None:
        try:
            return float(self.nvml.nvmlDeviceGetTemperature(self.handle, self.nvml.NVML_TEMPERATURE_GPU))
        except Exception:  # some boards do not report it
            return None

    def _processes(self) -> list[dict[str, Any]]:
        """Compute processes on the device and their memory (what NVML will tell)."""
        from spikelab.spike_sorting.guards.host_memory import tree_pids

        ours = tree_pids(self.pid)
        try:
            running = self.nvml.nvmlDeviceGetComputeRunningProcesses(self.handle)
        except Exception:
            return []
        rows = []
        for item in running:
            used = getattr(item, "usedGpuMemory", None)
            rows.append(
                {
                    "pid": item.pid,
                    "used_gib": None if used is None else round(used / 2**30, 3),
                    "sorter": item.pid in ours,
                }
            )
        return sorted(rows, key=lambda row: -(row["used_gib"] or 0))

    def check(self) -> SpikeSortingClassifiedError | None:
        memory = self.nvml.nvmlDeviceGetMemoryInfo(self.handle)
        percent = 100.0 * memory.used / memory.total if memory.total else 0.0
        self.peak_pct = max(self.peak_pct, percent)
        temperature = self._temperature()
        if temperature is not None:
            self.peak_temp_c = max(self.peak_temp_c or temperature, temperature)
        common = {"sorter": self.sorter, "stage": "sort", "device_index": self.device_index}
        if percent >= self.abort_pct:
            processes = self._processes()
            self.trip_details = {"gpu_processes": processes}
            others = [row for row in processes if not row["sorter"]]
            sharing = (
                f" {len(others)} other process(es) use this GPU (pids "
                f"{', '.join(str(row['pid']) for row in others[:5])}): run one sort per GPU."
                if others
                else ""
            )
            return GpuMemoryWatchdogError(
                f"GPU {self.device_index} memory use reached {percent:.1f}% ({memory.used / 2**30:.2f} of "
                f"{memory.total / 2**30:.2f} GiB; abort at {self.abort_pct:g}%).{sharing} The pipeline "
                "retries with a smaller batch (oom_retry_max); otherwise lower the backend's batch "
                "parameter, free the GPU from other jobs, or raise gpu_abort_pct.",
                used_pct_at_trip=round(percent, 2),
                abort_pct=self.abort_pct,
                **common,
            )
        if temperature is not None and temperature >= self.abort_temp_c:
            return GpuThermalWatchdogError(
                f"GPU {self.device_index} reached {temperature:.0f} °C (abort at {self.abort_temp_c:g} °C); "
                "the sort was stopped to protect the hardware. Check the cooling and the fans, let the "
                "GPU cool down, then retry.",
                temperature_c_at_trip=temperature,
                abort_temp_c=self.abort_temp_c,
                **common,
            )
        if percent >= self.warn_pct:
            self.warn(
                f"GPU {self.device_index} memory use {percent:.1f}%",
                used_pct=round(percent, 2),
                warn_pct=self.warn_pct,
                device_index=self.device_index,
            )
        if temperature is not None and temperature >= self.warn_temp_c:
            self.warn(
                f"GPU {self.device_index} at {temperature:.0f} °C",
                source="gpu_thermal",
                temperature_c=temperature,
                warn_temp_c=self.warn_temp_c,
                device_index=self.device_index,
            )
        return None

    def stop(self) -> None:
        super().stop()
        try:
            self.nvml.nvmlShutdown()
        except Exception:
            pass


def gpu_watchdog(context: WatchContext) -> GpuWatchdog | None:
    """Factory: the GPU watchdog for GPU backends, when NVML works and ``gpu_watchdog`` is on."""
    execution = context.config.execution
    if not execution.gpu_watchdog or not context.backend.needs_gpu(context.config):
        return None
    nvml = load_nvml()
    if nvml is None:
        return None
    index = resolve_device_index(context.job.params, context.backend.device_param)
    try:
        count = nvml.nvmlDeviceGetCount()
        if index >= count:
            log.warning("gpu_watchdog_device_missing", device_index=index, device_count=count)
            nvml.nvmlShutdown()
            return None
        return GpuWatchdog(
            nvml,
            device_index=index,
            warn_pct=execution.gpu_warn_pct,
            abort_pct=execution.gpu_abort_pct,
            warn_temp_c=execution.gpu_warn_temp_c,
            abort_temp_c=execution.gpu_abort_temp_c,
            poll_interval_s=execution.gpu_poll_interval_s,
            events=events_for(context),
            sorter=context.backend.name,
        )
    except Exception as exc:
        log.warning("gpu_watchdog_unavailable", error=f"{type(exc).__name__}: {exc}")
        return None
