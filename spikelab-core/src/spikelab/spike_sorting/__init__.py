"""Spike sorting: ``sort_recording``, ``sort_multistream``, ``sort_batch`` and their results.

Entry points are imported lazily, so ``import spikelab.spike_sorting`` stays cheap.
"""

from __future__ import annotations

import importlib
from typing import Any

_LAZY = {
    "sort_recording": "spikelab.spike_sorting.api",
    "sort_multistream": "spikelab.spike_sorting.multistream",
    "run_recordings": "spikelab.spike_sorting.api",
    "sort_batch": "spikelab.spike_sorting.batch",
    "RecordingResult": "spikelab.spike_sorting.results",
    "SortingPipelineConfig": "spikelab.spike_sorting.config",
    "check_config": "spikelab.spike_sorting._config_check",
}

__all__ = sorted(_LAZY)


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
