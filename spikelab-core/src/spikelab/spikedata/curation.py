"""Unit curation: one criterion at a time (``curate_by_*``), several at once (``curate``), history.

Every function returns ``(sd_curated, result)``; ``result["metric"]`` and ``result["passed"]``
are ``(N,)`` arrays over **all** units of the input. Metric definitions are in
:mod:`spikelab.spikedata.metrics` and :mod:`spikelab.spikedata.waveforms`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np
import structlog

from spikelab.errors import did_you_mean
from spikelab.plugins import plugin_manager_in_use
from spikelab.spikedata.errors import SpikeDataError, UnknownCriterionError
from spikelab.spikedata.metrics import CurationMetric

if TYPE_CHECKING:
    from spikelab.plugins import SpikeLabPluginManager
    from spikelab.spikedata.spikedata import SpikeData

log = structlog.get_logger("spikelab.spikedata")

Result = dict[str, np.ndarray]


def available_metrics(plugins: SpikeLabPluginManager | None = None) -> dict[str, CurationMetric]:
    """Registered curation metrics by ``curate()`` parameter name (built-ins plus plugins of
    ``plugins``, default: the manager in use)."""
    return plugin_manager_in_use(plugins).curation_metrics()


def _builtin(name: str) -> CurationMetric:
    from spikelab.spikedata.builtin_metrics import BUILTIN_METRICS

    return next(m for m in BUILTIN_METRICS if m.name == name)


def _apply(
    sd: SpikeData, metric: CurationMetric, threshold: float, options: Mapping[str, Any]
) -> tuple[SpikeData, Result]:
    _check_threshold(metric.param, threshold)
    result = metric.evaluate(sd, threshold, options)
    log.info(
        "curation_applied", criterion=metric.name, threshold=threshold, kept=int(result["passed"].sum()), units=sd.N
    )
    return sd.subset(np.flatnonzero(result["passed"])), result


def _check_threshold(param: str, value: Any) -> None:
    if not isinstance(value, (int, float, np.number)) or isinstance(value, bool) or math.isnan(value) or value < 0:
        raise SpikeDataError(f"{param} must be a number >= 0, got {value!r}.")


def curate_by_min_spikes(sd: SpikeData, min_spikes: int = 30) -> tuple[SpikeData, Result]:
    """Keep units with at least ``min_spikes`` spikes (metric: spike count)."""
    return _apply(sd, _builtin("spike_count"), min_spikes, {})


def curate_by_firing_rate(sd: SpikeData, min_rate_hz: float = 0.05) -> tuple[SpikeData, Result]:
    """Keep units whose firing rate (spikes / ``sd.length`` in s) is at least ``min_rate_hz``."""
    return _apply(sd, _builtin("firing_rate"), min_rate_hz, {})


def curate_by_isi_violations(
    sd: SpikeData,
    max_violation: float = 1.0,
    threshold_ms: float = 1.5,
    min_isi_ms: float = 0.0,
    method: str = "percent",
) -> tuple[SpikeData, Result]:
    """Keep units with few refractory-period violations.

    Parameters
    ----------
    sd : SpikeData
    max_violation : float, default: 1.0
        With ``method="percent"``, the largest percentage of spikes allowed within
        ``threshold_ms`` of the previous spike: **1.0 means 1 %**. With ``"hill"``, the largest
        Hill contamination ratio (SpikeInterface's ``isi_violations_ratio``).
    threshold_ms : float, default: 1.5
        Refractory period.
    min_isi_ms : float, default: 0.0
        Censored period (used by ``"hill"`` only).
    method : "percent" | "hill", default: "percent"

    Returns
    -------
    sd_curated : SpikeData
    result : dict
        ``metric`` (N,) and ``passed`` (N,).
    """
    options = {"threshold_ms": threshold_ms, "min_isi_ms": min_isi_ms, "method": method}
    return _apply(sd, _builtin("isi_violation"), max_violation, options)


def curate_by_snr(sd: SpikeData, min_snr: float = 5.0, **waveform_kwargs: Any) -> tuple[SpikeData, Result]:
    """Keep units with SNR >= ``min_snr``.

    Uses ``neuron_attributes["snr"]`` when every unit has it, else computes it from
    ``raw_data`` (``waveform_kwargs`` go to :func:`~spikelab.spikedata.waveforms.compute_waveform_metrics`).

    Raises
    ------
    MissingWaveformDataError
        If neither is available: call ``sd.compute_waveform_metrics()`` or attach raw data.
    """
    return _apply(sd, _builtin("snr"), min_snr, waveform_kwargs)


def curate_by_std_norm(sd: SpikeData, max_std_norm: float = 1.0, **waveform_kwargs: Any) -> tuple[SpikeData, Result]:
    """Keep units with std_norm <= ``max_std_norm`` (same lookup rules as :func:`curate_by_snr`)."""
    return _apply(sd, _builtin("std_norm"), max_std_norm, waveform_kwargs)


#: The pipeline configuration's names of the built-in criteria (``snr_min``, as ``--set`` and the
#: report write them), accepted here as other spellings of ``curate()``'s own (``min_snr``).
CONFIG_SPELLINGS: dict[str, str] = {
    "spikes_min": "min_spikes",
    "fr_min": "min_rate_hz",
    "isi_viol_max": "isi_max",
    "snr_min": "min_snr",
    "std_norm_max": "max_std_norm",
}


def curate(
    sd: SpikeData, *, plugins: SpikeLabPluginManager | None = None, **criteria: Any
) -> tuple[SpikeData, dict[str, Result]]:
    """Apply several criteria at once; only those given a non-None threshold are applied.

    Every criterion is evaluated on all units of ``sd``, so each result's ``metric`` and
    ``passed`` are ``(N,)`` over the original units; a unit is kept when it passes them all.

    Parameters
    ----------
    sd : SpikeData
    **criteria
        Thresholds by parameter name -- built in: ``min_spikes``, ``min_rate_hz``, ``isi_max``
        (percent, 1.0 means 1 %), ``min_snr``, ``max_std_norm``, plus any registered by a
        metrics plugin -- and options: ``isi_threshold_ms`` (1.5), ``isi_min_ms`` (0.0),
        ``isi_method`` ("percent"), ``snr_ms_before`` (1.0), ``snr_ms_after`` (2.0),
        ``std_at_peak`` (True), ``std_window_ms_before`` (0.5), ``std_window_ms_after`` (1.5).
        The pipeline configuration's spellings (``spikes_min``, ``fr_min``, ``isi_viol_max``,
        ``snr_min``, ``std_norm_max``) are accepted too.
    plugins : SpikeLabPluginManager, optional
        Whose metrics are known; default: the manager in use.

    Returns
    -------
    sd_curated : SpikeData
    results : dict
        ``{metric name: {"metric": (N,), "passed": (N,)}}`` in a fixed order (spike_count,
        firing_rate, isi_violation, snr, std_norm, then plugin metrics).

    Raises
    ------
    UnknownCriterionError
        For a keyword no registered metric accepts (the message lists the known ones).
    """
    registry = available_metrics(plugins)
    option_owner = {opt: m for m in registry.values() for opt in m.options}
    criteria = {CONFIG_SPELLINGS.get(k, k): v for k, v in criteria.items()}
    unknown = sorted(k for k in criteria if k not in registry and k not in option_owner)
    if unknown:
        hint = did_you_mean(unknown[0], [*registry, *option_owner])
        raise UnknownCriterionError(
            f"Unknown curation criteria {unknown}.{hint} Known thresholds: {sorted(registry)}; "
            f"options: {sorted(option_owner)}."
        )
    chosen = sorted((m for p, m in registry.items() if criteria.get(p) is not None), key=lambda m: (m.order, m.name))
    if any(m.needs_raw_data for m in chosen) and sd.has_raw_data:
        sd = _with_waveform_metrics(sd, chosen, criteria)
    results: dict[str, Result] = {}
    keep = np.ones(sd.N, dtype=bool)
    for metric in chosen:
        threshold = criteria[metric.param]
        _check_threshold(metric.param, threshold)
        options = {key: criteria[opt] for opt, key in metric.options.items() if criteria.get(opt) is not None}
        results[metric.name] = metric.evaluate(sd, threshold, options)
        keep &= results[metric.name]["passed"]
    log.info("curation_done", criteria=list(results), kept=int(keep.sum()), units=sd.N)
    return sd.subset(np.flatnonzero(keep)), results


def _with_waveform_metrics(sd: SpikeData, chosen: list[CurationMetric], criteria: Mapping[str, Any]) -> SpikeData:
    """Compute snr/std_norm from raw_data once when some unit lacks them."""
    names = [m.name for m in chosen if m.needs_raw_data]
    if all(a.get(name) is not None for a in sd.neuron_attributes for name in names):
        return sd
    from spikelab.spikedata.waveforms import compute_waveform_metrics

    options: dict[str, Any] = {}
    for metric in chosen:
        if metric.needs_raw_data:
            options.update({key: criteria[opt] for opt, key in metric.options.items() if criteria.get(opt) is not None})
    return compute_waveform_metrics(sd, **options)[0]


def build_curation_history(
    sd_original: SpikeData,
    sd_curated: SpikeData,
    results: Mapping[str, Mapping[str, Any]],
    parameters: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """A JSON-serialisable record of what a curation removed and why.

    Parameters
    ----------
    sd_original : SpikeData
        The SpikeData the criteria were evaluated on.
    sd_curated : SpikeData
        The result of the curation.
    results : mapping
        ``{criterion: {"metric": (N,), "passed": (N,)}}`` as returned by :func:`curate`.
    parameters : mapping | None, default: None
        Thresholds to record under ``curation_parameters``.

    Returns
    -------
    dict
        ``curation_parameters``, ``initial`` (unit ids), ``curations`` (criterion names),
        ``curated`` / ``failed`` ({criterion: ids}), ``metrics`` ({criterion: {id: value}}; a
        non-finite value is stored as None), ``curated_final`` (ids kept).
    """
    ids = [_json_id(u) for u in sd_original.unit_ids]
    history: dict[str, Any] = {
        "curation_parameters": {k: _json_value(v) for k, v in dict(parameters or {}).items()},
        "initial": ids,
        "curations": list(results),
        "curated": {},
        "failed": {},
        "metrics": {},
        "curated_final": [_json_id(u) for u in sd_curated.unit_ids],
    }
    for name, result in results.items():
        passed = np.asarray(result["passed"], dtype=bool)
        metric = np.asarray(result["metric"], dtype=np.float64)
        if passed.shape != (len(ids),) or metric.shape != (len(ids),):
            raise SpikeDataError(
                f"results[{name!r}] has {passed.size} units but sd_original has {len(ids)}; "
                "pass the SpikeData the criterion was evaluated on."
            )
        history["curated"][name] = [u for u, ok in zip(ids, passed) if ok]
        history["failed"][name] = [u for u, ok in zip(ids, passed) if not ok]
        history["metrics"][name] = {str(u): _json_value(v) for u, v in zip(ids, metric)}
    return history


def _json_id(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value


def _json_value(value: Any) -> Any:
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, np.ndarray):
        return [_json_value(v) for v in value.tolist()]
    return value
