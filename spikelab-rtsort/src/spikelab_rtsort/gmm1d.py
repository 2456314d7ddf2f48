"""Small, fast 1-D Gaussian mixtures on weighted values (for latency and amplitude splitting).

Latencies are integers in a few frames, so a mixture is fitted on the histogram of distinct values
(weights = counts), which gives the same likelihood as fitting every spike but costs almost nothing.
A variance floor (``min_var``) keeps a component from collapsing on a single integer value, so that
one-frame jitter is not mistaken for distinct propagation paths.
"""

from __future__ import annotations

import numpy as np


def fit_gmm_1d(values: np.ndarray, weights: np.ndarray, k: int, min_var: float,
               max_iter: int = 200, tol: float = 1e-6):
    """Fit a ``k``-component 1-D mixture by EM.

    Returns
    -------
    means, variances, mix : np.ndarray
        Component parameters.
    log_likelihood : float
        Total weighted log-likelihood.
    """
    values = np.asarray(values, dtype=np.float64)
    weights = np.asarray(weights, dtype=np.float64)
    total = weights.sum()
    order = np.argsort(values)
    cdf = np.cumsum(weights[order]) / total
    quantiles = (np.arange(k) + 0.5) / k
    means = values[order][np.minimum(np.searchsorted(cdf, quantiles), values.size - 1)]
    means = means + np.linspace(-1e-3, 1e-3, k)
    overall = np.average((values - np.average(values, weights=weights)) ** 2, weights=weights)
    variances = np.full(k, max(overall / k, min_var))
    mix = np.full(k, 1.0 / k)
    previous = -np.inf
    for _ in range(max_iter):
        log_p = (-0.5 * (values[:, None] - means[None, :]) ** 2 / variances[None, :]
                 - 0.5 * np.log(2 * np.pi * variances[None, :]) + np.log(mix[None, :]))
        top = log_p.max(axis=1, keepdims=True)
        log_norm = top[:, 0] + np.log(np.exp(log_p - top).sum(axis=1))
        ll = float((weights * log_norm).sum())
        resp = np.exp(log_p - log_norm[:, None]) * weights[:, None]
        nk = resp.sum(axis=0) + 1e-12
        means = (resp * values[:, None]).sum(axis=0) / nk
        variances = np.maximum((resp * (values[:, None] - means[None, :]) ** 2).sum(axis=0) / nk,
                               min_var)
        mix = nk / total
        if ll - previous < tol * abs(ll):
            break
        previous = ll
    return means, variances, mix, ll


def best_mixture_labels(values: np.ndarray, max_components: int, min_var: float,
                        min_components: int = 1, min_bic_gain: float = 0.0):
    """Labels of the lowest-BIC mixture with ``min_components..max_components`` components.

    Returns None when a single component fits best (or when the best multi-component fit beats a
    single Gaussian by less than ``min_bic_gain``).
    """
    values = np.asarray(values, dtype=np.float64)
    distinct, counts = np.unique(values, return_counts=True)
    if distinct.size < 2:
        return None
    n = values.size
    fits = {}
    for k in range(1, min(max_components, distinct.size) + 1):
        means, variances, mix, ll = fit_gmm_1d(distinct, counts, k, min_var)
        fits[k] = (-2 * ll + (3 * k - 1) * np.log(n), means, variances, mix)
    candidates = [k for k in fits if k >= min_components]
    if not candidates:
        return None
    best = min(candidates, key=lambda k: fits[k][0])
    if best == 1 or fits[1][0] - fits[best][0] < min_bic_gain:
        return None
    _, means, variances, mix = fits[best]
    log_p = (-0.5 * (values[:, None] - means[None, :]) ** 2 / variances[None, :]
             - 0.5 * np.log(variances[None, :]) + np.log(mix[None, :]))
    return log_p.argmax(axis=1)
