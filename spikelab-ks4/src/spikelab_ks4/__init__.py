"""Kilosort4 for SpikeLab: ``sort_recording(..., sorter="kilosort4")`` and the ``KILOSORT4`` /
``KILOSORT4_DOCKER`` presets, registered through the ``spikelab`` entry point.

Modules: :mod:`~spikelab_ks4.runner` (the sort, in SpikeLab's sorter process),
:mod:`~spikelab_ks4.docker` (the same in the Kilosort4 image), :mod:`~spikelab_ks4.reader`,
:mod:`~spikelab_ks4.classifier`, :mod:`~spikelab_ks4.params`, :mod:`~spikelab_ks4.plugin`.
"""

from __future__ import annotations

from spikelab_ks4.classifier import classify_ks4_failure
from spikelab_ks4.errors import KilosortSettingsError
from spikelab_ks4.params import DEFAULT_PARAMS
from spikelab_ks4.reader import read_sorting
from spikelab_ks4.runner import run

__all__ = ["DEFAULT_PARAMS", "KilosortSettingsError", "classify_ks4_failure", "read_sorting", "run"]
