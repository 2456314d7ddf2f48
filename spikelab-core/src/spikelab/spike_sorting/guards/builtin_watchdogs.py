"""Built-in watchdog plugin: registers the factory of every built-in live guard.

Each factory returns None when its ``ExecutionConfig`` knob turns it off (``host_ram_watchdog``,
``gpu_watchdog``, ``disk_watchdog``, ``sorter_inactivity_timeout``, ``io_stall_watchdog``) or when
it cannot apply (the GPU watchdog without NVML or for a CPU backend).
"""

from __future__ import annotations

from spikelab.plugins import hookimpl
from spikelab.spike_sorting.guards.disk import disk_watchdog
from spikelab.spike_sorting.guards.gpu import gpu_watchdog
from spikelab.spike_sorting.guards.host_memory import host_memory_watchdog
from spikelab.spike_sorting.guards.inactivity import inactivity_watchdog
from spikelab.spike_sorting.guards.io_stall import io_stall_watchdog

BUILTIN_FACTORIES = (
    host_memory_watchdog,
    gpu_watchdog,
    disk_watchdog,
    inactivity_watchdog,
    io_stall_watchdog,
)


@hookimpl
def spikelab_register_watchdogs(register) -> None:
    for factory in BUILTIN_FACTORIES:
        register(factory)
