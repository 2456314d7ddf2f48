"""Local polynomial fitting of artifact tails (SALPA-like, Wagenaar & Potter 2002).

Each sample of a tail segment is replaced by the value, at that sample, of a polynomial
fitted by least squares to the samples around it. The fit is a fixed linear map of the
segment, so it is precomputed once per segment length as a dense matrix and applied to
thousands of (channel, event) segments with one matrix product. The window is narrow
right after desaturation, where the tail bends fastest, and widens to ``half_max`` further
out; near the segment edges it is shifted inwards (an asymmetric fit), as SALPA does.

Spikes are kept out of the fit by robust iterations: samples whose residual exceeds
``k`` noise standard deviations are replaced by the current fit and the fit is redone.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np


@lru_cache(maxsize=128)
def smoother_matrix(length: int, order: int, half_min: int, half_max: int) -> np.ndarray:
    """Matrix ``S`` (length x length) such that ``segment @ S.T`` is the local polynomial fit.

    Parameters
    ----------
    length : int
        Number of samples in the segment.
    order : int
        Polynomial order of each local fit (reduced where the window is too short).
    half_min, half_max : int
        Half-width of the fitting window at the first sample and far from it; the
        half-width grows by one sample every two samples in between.

    Returns
    -------
    np.ndarray
        float32 array of shape (length, length); read-only (it is cached).
    """
    S = np.zeros((length, length))
    for i in range(length):
        half = min(half_max, half_min + i // 2)
        width = min(length, 2 * half + 1)
        start = min(max(0, i - half), length - width)
        S[i, start : start + width] = _coefficients(width, min(order, width - 1), i - start)
    S = S.astype(np.float32)
    S.setflags(write=False)
    return S


@lru_cache(maxsize=4096)
def _coefficients(width: int, deg: int, at: int) -> np.ndarray:
    """Weights giving, from ``width`` samples, the degree-``deg`` least-squares fit at index ``at``."""
    pos = (np.arange(width, dtype=float) - at) / max(1.0, width / 2.0)
    # Value at ``at`` is the constant term of the polynomial centred there.
    return np.linalg.pinv(np.vander(pos, deg + 1, increasing=True))[0]


def robust_fit(segments: np.ndarray, sigma: np.ndarray, S: np.ndarray, k: float, n_iter: int) -> np.ndarray:
    """Fit many segments at once, keeping outliers (spikes) out of the fit.

    Parameters
    ----------
    segments : np.ndarray
        (rows, length) float32 samples, one row per (channel, event).
    sigma : np.ndarray
        (rows,) noise standard deviation of each row's channel.
    S : np.ndarray
        Smoother matrix from :func:`smoother_matrix` for ``length``.
    k : float
        Residuals beyond ``k * sigma`` are treated as outliers.
    n_iter : int
        Number of robust refits after the first fit.

    Returns
    -------
    np.ndarray
        (rows, length) fitted artifact, same dtype as ``segments``.
    """
    fit = segments @ S.T
    limit = (k * sigma)[:, None]
    for _ in range(n_iter):
        outlier = np.abs(segments - fit) > limit
        rows = np.flatnonzero(outlier.any(axis=1))
        if rows.size == 0:
            break
        fit[rows] = np.where(outlier[rows], fit[rows], segments[rows]) @ S.T
    return fit
