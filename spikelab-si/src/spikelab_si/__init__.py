"""SpikeInterface's internal sorters as SpikeLab backends (``sorter="spykingcircus2"``, ...).

Installing this distribution registers them through the ``spikelab`` entry-point group
(:mod:`spikelab_si.plugin`); nothing else needs importing.
"""

from spikelab_si.classifier import SpikeInterfaceMemoryError, SpikeInterfaceSettingsError, classify_si_failure
from spikelab_si.runner import read_sorting

__all__ = ["SpikeInterfaceMemoryError", "SpikeInterfaceSettingsError", "classify_si_failure", "read_sorting"]
