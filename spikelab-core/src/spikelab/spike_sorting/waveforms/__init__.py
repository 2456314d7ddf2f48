"""Waveforms after sorting: streamed in chunks with bounded memory, cached, attached per unit.

:func:`build_spikedata` turns a sorting and its filtered recording into the
:class:`~spikelab.SpikeData` that curation, merging and footprint plots use directly.
"""

from __future__ import annotations

from spikelab.spike_sorting.waveforms.build import build_spikedata

__all__ = ["build_spikedata"]
