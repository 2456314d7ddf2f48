"""Guide import path for ``recenter_stim_times``, provided by ``spikelab_stim.recentering``."""

from __future__ import annotations

from typing import Any

from spikelab.spike_sorting.stim_sorting._provider import provider

__all__ = ["recenter_stim_times"]  # noqa: F822 (resolved lazily)


def __getattr__(name: str) -> Any:
    module = provider("spikelab_stim.recentering")
    if hasattr(module, name):
        return getattr(module, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
