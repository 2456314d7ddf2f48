"""Stimulation artifact removal and stim-recording sorting (provided by ``spikelab-stim``).

``preprocess_stim_artifacts``, ``sort_stim_recording``, ``remove_stim_artifacts``,
``recenter_stim_times``, ``SpikeSliceStack`` and ``StimParams`` (their shared options) resolve
to ``spikelab_stim``; without that distribution, using them raises an ImportError naming
``pip install spikelab-stim``.
"""

from __future__ import annotations

from typing import Any

from spikelab.spike_sorting.stim_sorting._provider import provider

__all__ = [
    "SpikeSliceStack",
    "StimParams",
    "preprocess_stim_artifacts",
    "recenter_stim_times",
    "remove_stim_artifacts",
    "sort_stim_recording",
]


def __getattr__(name: str) -> Any:
    if name in __all__:
        return getattr(provider(), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
