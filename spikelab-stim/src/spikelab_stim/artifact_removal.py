"""Remove stimulation artifacts from raw traces while keeping the spikes riding on them."""

from __future__ import annotations

import os

import numpy as np
import structlog
from tqdm.auto import tqdm

from spikelab_stim import _engine
from spikelab_stim._validation import check_fs, check_stim_times, check_traces
from spikelab_stim.params import REMOVAL_OPTIONS, stim_params

log = structlog.get_logger(__name__)

__all__ = ["remove_stim_artifacts"]

def remove_stim_artifacts(
    traces,
    stim_times_ms,
    fs_Hz,
    method="polynomial",
    artifact_window_ms=10.0,
    saturation_threshold=None,
    baseline_threshold=None,
    poly_order=3,
    copy=True,
    *,
    raw_traces=None,
    noise_levels=None,
    pre_blank_ms=0.5,
    min_blank_ms=1.0,
    fit_half_width_ms=2.0,
    min_flat_samples=3,
    blank_fill="baseline",
    n_jobs=1,
    progress_bar=False,
):
    """Blank saturated samples and subtract the decaying artifact tail after each stimulus.

    For every event and channel the samples from ``pre_blank_ms`` before the stim time to
    the end of amplifier saturation are blanked. Saturation is found as *flat runs* (at
    least ``min_flat_samples`` equal samples far from the baseline), so clipping is caught
    on any channel without knowing the ADC range; ``saturation_threshold`` adds a plain
    amplitude criterion. With ``method="polynomial"`` the tail that follows, up to
    ``artifact_window_ms``, is fitted by local cubic polynomials (SALPA-like, Wagenaar &
    Potter 2002) with spikes kept out of the fit, and the fit is subtracted: spikes riding
    on the decay survive. Blanking continues until the fit explains the signal (residual
    within ``baseline_threshold``). Pulses closer together than one artifact (bursts,
    paired pulses, trains) share the pre-burst baseline, and gaps between them too short
    to fit are blanked whole. ``method="blank"`` blanks the whole artifact window instead.

    Parameters
    ----------
    traces : np.ndarray
        Voltage shaped (channels, samples).
    stim_times_ms : array-like
        Stim times in ms (ideally from :func:`recenter_stim_times`), non-decreasing.
    fs_Hz : float
        Sampling rate in Hz.
    method : "polynomial" | "blank", default: "polynomial"
        Subtract a fitted tail, or blank the whole artifact window.
    artifact_window_ms : float, default: 10.0
        Maximum duration of the tail after desaturation. Bursts sum the tails of their
        pulses, so they may need a wider window (e.g. 20 ms) than single pulses.
    saturation_threshold : float or None, default: None
        Samples with ``|raw value| >= saturation_threshold`` also count as saturated, in the
        units of ``traces``. None uses flat-run detection only.
    baseline_threshold : float or None, default: None
        Blanking ends when the fit residual stays within this (trace units) for 0.2 ms.
        None uses 4 noise standard deviations per channel.
    poly_order : int, default: 3
        Order of the local polynomial fits (cubic, as in SALPA).
    copy : bool, default: True
        If False and ``traces`` is a float array, it is cleaned in place.
    raw_traces : np.ndarray or None, default: None
        Unfiltered traces of the same shape, used for saturation detection when ``traces``
        has been filtered (filtering hides flat rail runs).
    noise_levels : np.ndarray or None, default: None
        Per-channel noise SD; estimated from the pre-stimulus windows when None.
    pre_blank_ms : float, default: 0.5
        Blanking starts this long before each stim time.
    min_blank_ms : float, default: 1.0
        Blanking lasts at least this long after each stim time (covers the pulse itself).
    fit_half_width_ms : float, default: 2.0
        Half-width of the local fitting window away from the desaturation point.
    min_flat_samples : int, default: 3
        Minimum length of a flat run counted as saturation.
    blank_fill : "baseline" | "zero", default: "baseline"
        Blanked samples take the channel's pre-stimulus baseline (zero for zero-centred
        traces, and no step for raw traces with a DC offset) or exactly zero.
    n_jobs : int, default: 1
        Threads over event batches (-1: all cores). In-place cleaning (``copy=False``)
        always runs in one thread.
    progress_bar : bool, default: False
        Show a tqdm progress bar over events.

    Returns
    -------
    cleaned : np.ndarray
        Cleaned traces, (channels, samples), float32 for float32/integer input, else float64.
    blanked_mask : np.ndarray
        Boolean (channels, samples), True where samples were blanked.
    """
    arr = check_traces(traces)
    fs = check_fs(fs_Hz)
    stim = stim_params("remove_stim_artifacts", dict(
        method=method, artifact_window_ms=artifact_window_ms, poly_order=poly_order,
        saturation_threshold=saturation_threshold, baseline_threshold=baseline_threshold,
        pre_blank_ms=pre_blank_ms, min_blank_ms=min_blank_ms, fit_half_width_ms=fit_half_width_ms,
        min_flat_samples=min_flat_samples, blank_fill=blank_fill,
    ), allowed=REMOVAL_OPTIONS)
    times = check_stim_times(stim_times_ms, arr.shape[1], fs)
    params = _engine.make_engine_params(fs, **stim.removal_options())
    raw = None
    if raw_traces is not None:
        raw = check_traces(raw_traces, "raw_traces")
        if raw.shape != arr.shape:
            raise ValueError(f"`raw_traces` has shape {raw.shape} but `traces` has {arr.shape}; they must match.")
    out_dtype = np.float64 if arr.dtype == np.float64 else np.float32
    if not copy and arr.dtype == out_dtype and isinstance(traces, np.ndarray) and arr.flags.writeable:
        cleaned = arr  # safe: each event writes only before the next event's window starts
        source = arr
    else:
        cleaned = arr.astype(out_dtype, copy=True)
        source = arr
    blanked = np.zeros(arr.shape, dtype=bool)
    if times.size == 0:
        return cleaned, blanked
    onsets = np.round(times * fs / 1000.0).astype(np.int64)
    sigma = check_noise_levels(noise_levels, arr.shape[0])
    if sigma is None:
        sigma = _engine.estimate_noise(
            lambda starts, width: _engine.gather(source, starts, width), arr.shape[0], arr.shape[1], onsets, params
        )
    with tqdm(total=onsets.size, disable=not progress_bar, desc="stim artifacts", unit="event") as bar:
        _engine.clean(source, onsets, params, sigma, raw=raw, out=cleaned, mask=blanked, progress=bar,
                      n_jobs=1 if cleaned is source else resolve_n_jobs(n_jobs))
    log.info(
        "stim_artifacts_removed",
        method=method,
        n_events=int(onsets.size),
        n_channels=int(arr.shape[0]),
        blanked_fraction=np.count_nonzero(blanked) / blanked.size,
    )
    return cleaned, blanked


def resolve_n_jobs(n_jobs) -> int:
    """Number of worker threads for ``n_jobs`` (-1 means all cores)."""
    if not isinstance(n_jobs, (int, np.integer)) or n_jobs == 0 or n_jobs < -1:
        raise ValueError(f"`n_jobs` must be a positive integer or -1 (all cores); got {n_jobs!r}.")
    return (os.cpu_count() or 1) if n_jobs == -1 else int(n_jobs)


def check_noise_levels(noise_levels, n_channels: int):
    """Return ``noise_levels`` as a float32 (channels,) array, or None."""
    if noise_levels is None:
        return None
    sigma = np.asarray(noise_levels, dtype=np.float32).reshape(-1)
    if sigma.shape != (n_channels,) or not np.isfinite(sigma).all() or (sigma <= 0).any():
        raise ValueError(
            f"`noise_levels` must hold one positive finite value per channel ({n_channels}); got shape {sigma.shape}."
        )
    return sigma
