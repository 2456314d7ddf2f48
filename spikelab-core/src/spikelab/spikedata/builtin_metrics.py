"""The built-in curation metrics, registered through the same hook as a third-party plugin's."""

from __future__ import annotations

from collections.abc import Callable

from spikelab.plugins import hookimpl
from spikelab.spikedata import metrics
from spikelab.spikedata.metrics import CurationMetric

_WAVEFORM_OPTIONS = {"snr_ms_before": "ms_before", "snr_ms_after": "ms_after"}
_STD_OPTIONS = {
    **_WAVEFORM_OPTIONS,
    "std_at_peak": "at_peak",
    "std_window_ms_before": "window_ms_before",
    "std_window_ms_after": "window_ms_after",
}

BUILTIN_METRICS: tuple[CurationMetric, ...] = (
    CurationMetric(
        name="spike_count", param="min_spikes", compute=metrics.spike_counts, passes="min", order=10,
        doc="number of spikes",
    ),
    CurationMetric(
        name="firing_rate", param="min_rate_hz", compute=metrics.firing_rates, passes="min", order=20,
        doc="spikes per second over the recording length",
    ),
    CurationMetric(
        name="isi_violation", param="isi_max", compute=metrics.isi_violations, passes="max", order=30,
        doc="percent of spikes within isi_threshold_ms of the previous one (1.0 means 1 %)",
        options={"isi_threshold_ms": "threshold_ms", "isi_min_ms": "min_isi_ms", "isi_method": "method"},
    ),
    CurationMetric(
        name="snr", param="min_snr", compute=metrics.snrs, passes="min", needs_raw_data=True, order=40,
        doc="peak of the mean waveform on the primary channel over its MAD noise",
        options=_WAVEFORM_OPTIONS,
    ),
    CurationMetric(
        name="std_norm", param="max_std_norm", compute=metrics.std_norms, passes="max", needs_raw_data=True,
        order=50, doc="spread of the waveforms at the peak over the peak amplitude", options=_STD_OPTIONS,
    ),
)


@hookimpl
def spikelab_register_metrics(register: Callable[[CurationMetric], None]) -> None:
    """Register spike_count, firing_rate, isi_violation, snr and std_norm."""
    for metric in BUILTIN_METRICS:
        register(metric)
