"""SpikeData and unit curation.

:class:`SpikeData` holds spike trains (ms) with per-unit attributes; curation functions live in
:mod:`.curation`, :mod:`.waveforms` and :mod:`.merge`, plotting in :mod:`.plot_utils`, and
:class:`~.metrics.CurationMetric` is what a metrics plugin registers.
"""

from __future__ import annotations

from spikelab.spikedata.errors import (
    EmptyWaveformMetricsError,
    MissingWaveformDataError,
    SpikeDataError,
    UnknownCriterionError,
)
from spikelab.spikedata.metrics import CurationMetric
from spikelab.spikedata.spikedata import SpikeData

__all__ = [
    "CurationMetric",
    "EmptyWaveformMetricsError",
    "MissingWaveformDataError",
    "SpikeData",
    "SpikeDataError",
    "UnknownCriterionError",
]
