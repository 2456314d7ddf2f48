"""Per-unit curation metrics and :class:`CurationMetric`, the record a metrics plugin registers.

Definitions (``N`` units, ``n`` spikes of a unit, ``T`` = ``sd.length`` in s):

- **spike_count** = ``n``.
- **firing_rate** = ``n / T`` in Hz (0 when ``T`` is 0). Identical to SpikeInterface's
  ``firing_rate``, except that a unit with no spike gets 0 here where SpikeInterface gives NaN.
- **isi_violation** with ``method="percent"`` (the default) = ``100 * v / n``: the percentage of
  spikes that follow the previous spike of the unit by less than ``threshold_ms``, where ``v``
  counts inter-spike intervals below ``threshold_ms``. ``v`` is SpikeInterface's
  ``isi_violations_count``. With ``method="hill"`` it is SpikeInterface's
  ``isi_violations_ratio`` (Hill et al. 2011): ``(v / (2 n (threshold - min_isi))) / (n / T)``.
  Units with fewer than 2 spikes score 0 (SpikeInterface gives NaN for 0 spikes). An interval
  equal to the threshold (within 1e-9 ms of float noise) is not a violation.
- **snr** and **std_norm**: see :mod:`spikelab.spikedata.waveforms`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, Literal

import attrs
import numpy as np

from spikelab.spikedata.errors import MissingWaveformDataError, SpikeDataError

if TYPE_CHECKING:
    from spikelab.spikedata.spikedata import SpikeData

#: Float noise allowed when comparing an inter-spike interval (ms) with the threshold.
ISI_TOLERANCE_MS = 1e-9


@attrs.frozen
class CurationMetric:
    """One curation criterion: how to compute a per-unit metric and how to threshold it.

    Parameters
    ----------
    name : str
        Key of the result in ``curate()``'s results, e.g. ``"snr"``.
    param : str
        Keyword of ``curate()`` holding the threshold, e.g. ``"min_snr"``.
    compute : callable
        ``compute(sd, options) -> ndarray (N,)``, the metric of every unit of ``sd``.
    passes : "min" | "max"
        A unit passes when its metric is ``>=`` (``"min"``) or ``<=`` (``"max"``) the threshold.
    needs_raw_data : bool, default: False
        True when the metric may need ``raw_data`` (waveform metrics).
    order : int, default: 100
        Position of the criterion in ``curate()``'s results (ascending).
    doc : str, default: ""
        One-line definition shown in error messages and docs.
    options : mapping of str to str, default: {}
        Extra ``curate()`` keywords this metric reads, mapped to the key ``compute`` gets them
        under (e.g. ``{"isi_threshold_ms": "threshold_ms"}``).
    """

    name: str
    param: str
    compute: Callable[[SpikeData, Mapping[str, Any]], np.ndarray]
    passes: Literal["min", "max"]
    needs_raw_data: bool = False
    order: int = 100
    doc: str = ""
    options: Mapping[str, str] = attrs.field(factory=dict)

    def __attrs_post_init__(self) -> None:
        if self.passes not in ("min", "max"):
            raise SpikeDataError(f"CurationMetric {self.name!r}: passes must be 'min' or 'max', got {self.passes!r}.")

    def evaluate(
        self, sd: SpikeData, threshold: float, options: Mapping[str, Any] | None = None
    ) -> dict[str, np.ndarray]:
        """Metric and pass mask of every unit of ``sd``: ``{"metric": (N,), "passed": (N,)}``."""
        metric = np.asarray(self.compute(sd, dict(options or {})), dtype=np.float64)
        if metric.shape != (sd.N,):
            raise SpikeDataError(f"Metric {self.name!r} returned shape {metric.shape}, expected ({sd.N},).")
        with np.errstate(invalid="ignore"):
            passed = metric >= threshold if self.passes == "min" else metric <= threshold
        return {"metric": metric, "passed": np.asarray(passed, dtype=bool)}


# -- metric functions ----------------------------------------------------------------------------
def spike_counts(sd: SpikeData, options: Mapping[str, Any] | None = None) -> np.ndarray:
    """Number of spikes of every unit (float, ``(N,)``)."""
    return sd.spike_counts.astype(np.float64)


def firing_rates(sd: SpikeData, options: Mapping[str, Any] | None = None) -> np.ndarray:
    """Spikes per second over ``sd.length`` (``(N,)``; 0 when the length is 0)."""
    duration_s = sd.length / 1000.0
    if duration_s <= 0:
        return np.zeros(sd.N)
    return sd.spike_counts / duration_s


def isi_violation_counts(sd: SpikeData, threshold_ms: float = 1.5) -> np.ndarray:
    """Number of inter-spike intervals shorter than ``threshold_ms`` per unit (``(N,)`` int)."""
    limit = threshold_ms - ISI_TOLERANCE_MS
    return np.array([int(np.count_nonzero(np.diff(t) < limit)) for t in sd.train], dtype=np.int64)


def isi_violations(sd: SpikeData, options: Mapping[str, Any] | None = None) -> np.ndarray:
    """ISI violation of every unit; ``options``: ``threshold_ms``, ``min_isi_ms``, ``method``.

    See the module docstring for the ``"percent"`` and ``"hill"`` definitions.
    """
    options = dict(options or {})
    threshold_ms = float(options.get("threshold_ms", 1.5))
    min_isi_ms = float(options.get("min_isi_ms", 0.0))
    method = options.get("method", "percent")
    if threshold_ms <= 0 or min_isi_ms < 0 or min_isi_ms >= threshold_ms:
        raise SpikeDataError(
            f"Need 0 <= min_isi_ms < threshold_ms, got min_isi_ms={min_isi_ms}, threshold_ms={threshold_ms}."
        )
    counts = isi_violation_counts(sd, threshold_ms).astype(np.float64)
    n = sd.spike_counts.astype(np.float64)
    out = np.zeros(sd.N)
    ok = n >= 2
    if method == "percent":
        out[ok] = 100.0 * counts[ok] / n[ok]
    elif method == "hill":
        duration_s = sd.length / 1000.0
        violation_time_s = 2.0 * n[ok] * (threshold_ms - min_isi_ms) / 1000.0
        out[ok] = (counts[ok] / violation_time_s) / (n[ok] / duration_s)
    else:
        raise SpikeDataError(f"Unknown ISI violation method {method!r}; use 'percent' or 'hill'.")
    return out


def waveform_metric(sd: SpikeData, name: str, options: Mapping[str, Any] | None = None) -> np.ndarray:
    """``snr`` or ``std_norm`` of every unit: precomputed values, else computed from ``raw_data``.

    Precomputed values (``neuron_attributes[i][name]``) are used when every unit has one.

    Raises
    ------
    MissingWaveformDataError
        When some unit lacks the value and ``sd`` has no ``raw_data``.
    """
    values = [unit.get(name) for unit in sd.neuron_attributes]
    if all(v is not None for v in values):
        return np.asarray(values, dtype=np.float64).reshape(sd.N)
    if not sd.has_raw_data:
        missing = [i for i, v in enumerate(values) if v is None]
        raise MissingWaveformDataError(name, f"Units without it: {missing[:10]}{'...' if len(missing) > 10 else ''}.")
    from spikelab.spikedata.waveforms import compute_waveform_metrics

    return compute_waveform_metrics(sd, **dict(options or {}))[1][name]


def snrs(sd: SpikeData, options: Mapping[str, Any] | None = None) -> np.ndarray:
    """SNR of every unit (see :mod:`spikelab.spikedata.waveforms`)."""
    return waveform_metric(sd, "snr", options)


def std_norms(sd: SpikeData, options: Mapping[str, Any] | None = None) -> np.ndarray:
    """std_norm of every unit (see :mod:`spikelab.spikedata.waveforms`)."""
    return waveform_metric(sd, "std_norm", options)
