"""Guide import path for ``remove_stim_artifacts``, provided by ``spikelab_stim.artifact_removal``."""

from __future__ import annotations

from typing import Any

from spikelab.spike_sorting.stim_sorting._provider import provider

__all__ = ["remove_stim_artifacts"]  # noqa: F822 (resolved lazily)


def __getattr__(name: str) -> Any:
    module = provider("spikelab_stim.artifact_removal")
    if hasattr(module, name):
        return getattr(module, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
