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
    far = np.abs(windows - baseline[..., None]) > FLAT_MIN_SIGMA * sigma[:, None, None]
    flat = (np.abs(np.diff(windows, axis=-1)) <= tol) & far[..., 1:] & far[..., :-1]
    # run[j]: steps j..j+min_run-2 are all flat, i.e. samples j..j+min_run-1 are one flat run.
    run = flat[..., : flat.shape[-1] - min_run + 2].copy()
    for k in range(1, min_run - 1):
        run &= flat[..., k : flat.shape[-1] - min_run + 2 + k]
    mask = np.zeros(windows.shape, dtype=bool)
    for k in range(min_run):  # every sample of each run
        mask[..., k : k + run.shape[-1]] |= run
    return mask


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
