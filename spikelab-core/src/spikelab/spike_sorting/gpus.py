"""How many NVIDIA GPUs this host has, through NVML (shared by the batch layer and backends)."""

from __future__ import annotations


def count_nvidia_gpus() -> int:
    """NVIDIA GPUs NVML reports (0 when NVML is missing or finds none)."""
    try:
        import pynvml

        pynvml.nvmlInit()
        try:
            return int(pynvml.nvmlDeviceGetCount())
        finally:
            pynvml.nvmlShutdown()
    except Exception:
        return 0
