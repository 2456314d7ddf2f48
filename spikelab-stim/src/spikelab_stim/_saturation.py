"""Saturation (amplifier rail) detection and per-channel noise and baseline estimates.

A saturated amplifier does not just produce large values: it produces *flat runs*, the
same value for several samples in a row, far from the baseline. Looking for flat runs
finds clipping on any channel without knowing the ADC range, while a bare amplitude
threshold either misses clipped samples or blanks unclipped artifact peaks.
"""

from __future__ import annotations

import numpy as np

#: A flat run counts as saturation only this many noise SDs away from the baseline.
FLAT_MIN_SIGMA = 20.0
_MAD_TO_SD = 1.4826


def flat_run_mask(windows: np.ndarray, baseline: np.ndarray, sigma: np.ndarray, min_run: int) -> np.ndarray:
    """Mark samples inside flat runs of at least ``min_run`` samples far from the baseline.

    Parameters
    ----------
    windows : np.ndarray
        (channels, events, samples) traces around each event.
    baseline : np.ndarray
        (channels, events) baseline level of each window.
    sigma : np.ndarray
        (channels,) noise standard deviation per channel.
    min_run : int
        Minimum number of equal consecutive samples that count as a rail.

    Returns
    -------
    np.ndarray
        Boolean array shaped like ``windows``.
    """
    n = windows.shape[-1]
    if min_run < 2 or n < min_run:
        return np.zeros(windows.shape, dtype=bool)
    tol = 1e-3 * sigma[:, None, None]
    flat = np.abs(np.diff(windows, axis=-1)) <= tol
    far = np.abs(windows - baseline[..., None]) > FLAT_MIN_SIGMA * sigma[:, None, None]
    flat &= far[..., 1:] & far[..., :-1]
    w = min_run - 1  # consecutive flat steps needed
    zeros = np.zeros(flat.shape[:-1] + (1,), dtype=np.int32)
    csum = np.concatenate([zeros, np.cumsum(flat, axis=-1, dtype=np.int32)], axis=-1)
    full = (csum[..., w:] - csum[..., :-w]) == w  # full[j]: samples j..j+w are one flat run
    n_full = full.shape[-1]
    # Sample i is inside a run when some full[j] holds for j in [i - w, i].
    cfull = np.concatenate([zeros, np.cumsum(full, axis=-1, dtype=np.int32)], axis=-1)
    i = np.arange(n)
    hi = np.minimum(i, n_full - 1) + 1
    lo = np.maximum(0, i - w)
    return (cfull[..., hi] - cfull[..., lo]) > 0


def noise_levels_from_windows(windows: np.ndarray) -> np.ndarray:
    """Robust per-channel noise SD from (channels, events, samples) baseline windows.

    Uses the median absolute deviation of first differences, which ignores slow
    baseline drift (LFP, DC offsets) and is not inflated by the odd spike.
    """
    diffs = np.diff(windows, axis=-1).reshape(windows.shape[0], -1)
    if diffs.shape[1] == 0:
        raise ValueError("No baseline samples are available to estimate the noise; pass `noise_levels`.")
    mad = np.median(np.abs(diffs - np.median(diffs, axis=1, keepdims=True)), axis=1)
    sigma = _MAD_TO_SD * mad / np.sqrt(2.0)
    floor = max(float(np.median(sigma)) * 1e-3, 1e-9)
    return np.maximum(sigma, floor).astype(np.float32)
