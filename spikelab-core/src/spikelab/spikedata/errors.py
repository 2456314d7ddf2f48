"""Errors raised by :class:`~spikelab.SpikeData` and the curation functions."""

from __future__ import annotations

from spikelab.errors import InputError


class SpikeDataError(InputError):
    """A spike train, attribute or argument given to SpikeData is malformed."""


class MissingWaveformDataError(SpikeDataError):
    """A waveform metric (SNR, std_norm, templates) was asked for but cannot be computed.

    Raised when the units carry no precomputed value and no ``raw_data`` is attached.
    """

    def __init__(self, metric: str, detail: str = "") -> None:
        self.metric = metric
        message = (
            f"Cannot compute {metric!r}: the units have no precomputed {metric!r} in "
            "neuron_attributes and this SpikeData has no raw_data. Attach raw_data "
            "(channels x samples, µV) and raw_time (ms per sample, or the sampling rate in kHz) "
            "when building the SpikeData, then call sd.compute_waveform_metrics()."
        )
        super().__init__(f"{message} {detail}".strip())


#: Name used by the older SpikeLab; kept so ``except EmptyWaveformMetricsError`` keeps working.
EmptyWaveformMetricsError = MissingWaveformDataError


class UnknownCriterionError(SpikeDataError, TypeError):
    """``curate()`` got a criterion name no registered curation metric accepts."""
