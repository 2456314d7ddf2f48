"""A fake NVML (``pynvml``) whose GPUs follow a script: memory use and temperature over time.

CPU-only machines have no NVML library, so GPU watchdogs are tested against this fake, installed
in place of ``pynvml``::

    from spikelab.testing.fake_nvml import FakeGpu, FakeNvml

    nvml = FakeNvml([FakeGpu(total_gb=8.0, used_gb=[(0.0, 1.0), (1.5, 7.9)], temperature_c=65.0)])
    with nvml.installed():
        ...  # `import pynvml` now returns the fake; at t >= 1.5 s device 0 is 98.8 % full

Times are seconds since the fake's first ``nvmlInit()``. A schedule is a number (constant) or a
list of ``(t_s, value)`` steps, each value holding from its time until the next step.
"""

from __future__ import annotations

import contextlib
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from types import SimpleNamespace

import attrs

Schedule = float | Sequence[tuple[float, float]]

GiB = 2**30


def value_at(schedule: Schedule, t: float) -> float:
    """The value a schedule holds at time ``t``."""
    if isinstance(schedule, (int, float)):
        return float(schedule)
    steps = sorted(schedule)
    current = steps[0][1]
    for start, value in steps:
        if t >= start:
            current = value
    return float(current)


@attrs.define
class FakeGpu:
    """One scripted device.

    Parameters
    ----------
    total_gb : float, default: 8.0
        Memory size in GiB.
    used_gb : float or list of (t_s, GiB), default: 0.5
        Memory in use over time.
    temperature_c : float or list of (t_s, °C), default: 50.0
        Core temperature over time.
    name : str, default: "Fake GPU"
    processes : sequence of (pid, GiB), default: ()
        Compute processes NVML reports on the device.
    """

    total_gb: float = 8.0
    used_gb: Schedule = 0.5
    temperature_c: Schedule = 50.0
    name: str = "Fake GPU"
    processes: Sequence[tuple[int, float]] = ()


class NVMLError(Exception):
    """Stands in for ``pynvml.NVMLError``."""


class NVMLError_LibraryNotFound(NVMLError):  # noqa: N801 (pynvml's name)
    def __str__(self) -> str:
        return "NVML Shared Library Not Found"


class FakeNvml:
    """The subset of ``pynvml`` SpikeLab uses, driven by :class:`FakeGpu` scripts.

    Parameters
    ----------
    gpus : sequence of FakeGpu
        The devices (index = position).
    library_found : bool, default: True
        False makes ``nvmlInit`` raise ``NVMLError_LibraryNotFound``, as on a machine without a
        driver.
    """

    NVML_TEMPERATURE_GPU = 0
    NVMLError = NVMLError
    NVMLError_LibraryNotFound = NVMLError_LibraryNotFound

    def __init__(self, gpus: Sequence[FakeGpu] = (FakeGpu(),), *, library_found: bool = True) -> None:
        self.gpus = list(gpus)
        self.library_found = library_found
        self.t0: float | None = None
        self.init_count = 0
        self.calls = 0
        self._lock = threading.Lock()

    # -- pynvml API ------------------------------------------------------------------------
    def nvmlInit(self) -> None:  # noqa: N802
        if not self.library_found:
            raise NVMLError_LibraryNotFound()
        with self._lock:
            self.init_count += 1
            if self.t0 is None:
                self.t0 = time.monotonic()

    def nvmlShutdown(self) -> None:  # noqa: N802
        with self._lock:
            self._require_init()
            self.init_count -= 1

    def nvmlDeviceGetCount(self) -> int:  # noqa: N802
        self._require_init()
        return len(self.gpus)

    def nvmlDeviceGetHandleByIndex(self, index: int) -> int:  # noqa: N802
        self._require_init()
        if not 0 <= index < len(self.gpus):
            raise NVMLError(f"Invalid Argument (device {index} of {len(self.gpus)})")
        return index

    def nvmlDeviceGetName(self, handle: int) -> str:  # noqa: N802
        return self.gpus[handle].name

    def nvmlDeviceGetMemoryInfo(self, handle: int) -> SimpleNamespace:  # noqa: N802
        self._require_init()
        self.calls += 1
        gpu = self.gpus[handle]
        total = int(gpu.total_gb * GiB)
        used = min(total, int(value_at(gpu.used_gb, self.elapsed()) * GiB))
        return SimpleNamespace(total=total, used=used, free=total - used)

    def nvmlDeviceGetComputeRunningProcesses(self, handle: int) -> list[SimpleNamespace]:  # noqa: N802
        self._require_init()
        return [
            SimpleNamespace(pid=pid, usedGpuMemory=int(gib * GiB)) for pid, gib in self.gpus[handle].processes
        ]

    def nvmlDeviceGetTemperature(self, handle: int, sensor: int) -> int:  # noqa: N802
        self._require_init()
        return int(round(value_at(self.gpus[handle].temperature_c, self.elapsed())))

    # -- test helpers ----------------------------------------------------------------------
    def elapsed(self) -> float:
        """Seconds since the first ``nvmlInit`` (0 before it)."""
        return 0.0 if self.t0 is None else time.monotonic() - self.t0

    def _require_init(self) -> None:
        if self.t0 is None or self.init_count < 0:
            raise NVMLError("Uninitialized")

    @contextlib.contextmanager
    def installed(self) -> Iterator[FakeNvml]:
        """Make ``import pynvml`` return this fake inside the ``with`` block."""
        previous = sys.modules.get("pynvml")
        sys.modules["pynvml"] = self  # type: ignore[assignment]
        try:
            yield self
        finally:
            if previous is None:
                sys.modules.pop("pynvml", None)
            else:
                sys.modules["pynvml"] = previous


__all__ = ["FakeGpu", "FakeNvml", "NVMLError", "NVMLError_LibraryNotFound", "value_at"]
