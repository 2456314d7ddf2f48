"""Input checks shared by the public stim functions.

Every check raises before any long work starts and names the bad input and the fix.
"""

from __future__ import annotations

import numpy as np


def check_traces(traces, name: str = "traces") -> np.ndarray:
    """Return ``traces`` as a 2-D (channels, samples) array or raise ValueError."""
    arr = np.asarray(traces)
    if arr.ndim != 2:
        raise ValueError(
            f"`{name}` must be a 2-D array shaped (channels, samples); got shape {arr.shape}. "
            "Pass a recording's traces transposed, e.g. `recording.get_traces().T`."
        )
    if arr.shape[0] == 0 or arr.shape[1] == 0:
        raise ValueError(f"`{name}` is empty (shape {arr.shape}); it needs at least one channel and one sample.")
    if not (np.issubdtype(arr.dtype, np.floating) or np.issubdtype(arr.dtype, np.integer)):
        raise ValueError(f"`{name}` must hold numbers; got dtype {arr.dtype}.")
    if np.issubdtype(arr.dtype, np.floating) and not np.isfinite(arr).all():
        bad = np.argwhere(~np.isfinite(arr))[0]
        raise ValueError(
            f"`{name}` contains NaN or inf (first at channel {bad[0]}, sample {bad[1]}); "
            "replace them (e.g. with the channel median) before artifact removal."
        )
    if arr.shape[0] > 10_000 and arr.shape[1] <= 4096:
        raise ValueError(
            f"`{name}` looks transposed: shape {arr.shape} would mean {arr.shape[0]} channels of "
            f"{arr.shape[1]} samples. Pass (channels, samples), e.g. `traces.T`."
        )
    return arr


def check_fs(fs_Hz, name: str = "fs_Hz") -> float:
    """Return the sampling rate as a positive float or raise ValueError."""
    try:
        fs = float(fs_Hz)
    except (TypeError, ValueError):
        raise ValueError(f"`{name}` must be a number in Hz; got {fs_Hz!r}.") from None
    if not np.isfinite(fs) or fs <= 0:
        raise ValueError(f"`{name}` must be a positive sampling rate in Hz; got {fs_Hz!r}.")
    return fs


def check_stim_times(stim_times_ms, n_samples: int, fs_Hz: float, name: str = "stim_times_ms") -> np.ndarray:
    """Return stim times (ms) as a sorted float64 1-D array that lies inside the recording.

    Raises
    ------
    ValueError
        If the times are not 1-D, not finite, not non-decreasing, or outside the recording.
    """
    times = np.asarray(stim_times_ms, dtype=float) if np.size(stim_times_ms) else np.zeros(0)
    if times.ndim != 1:
        raise ValueError(f"`{name}` must be a 1-D sequence of times in ms; got shape {times.shape}.")
    if times.size == 0:
        return times
    if not np.isfinite(times).all():
        idx = int(np.flatnonzero(~np.isfinite(times))[0])
        raise ValueError(f"`{name}` contains NaN or inf (first at index {idx}); drop those events first.")
    steps = np.diff(times)
    if (steps < 0).any():
        idx = int(np.flatnonzero(steps < 0)[0])
        raise ValueError(
            f"`{name}` must be non-decreasing (sorted); index {idx + 1} ({times[idx + 1]} ms) comes before "
            f"index {idx} ({times[idx]} ms). Sort them with `np.sort` if the order is arbitrary."
        )
    duration_ms = n_samples / fs_Hz * 1000.0
    outside = (times < 0) | (times >= duration_ms)
    if outside.any():
        idx = int(np.flatnonzero(outside)[0])
        raise ValueError(
            f"`{name}` has {int(outside.sum())} time(s) outside the recording [0, {duration_ms:.3f}) ms "
            f"(first: index {idx} = {times[idx]} ms). Stim times are in milliseconds from the recording start; "
            "convert from seconds or samples, or drop events outside the recording."
        )
    return times


def check_positive(value, name: str, allow_zero: bool = False, allow_none: bool = False):
    """Raise ValueError unless ``value`` is a positive (or non-negative) finite number."""
    if value is None and allow_none:
        return None
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"`{name}` must be a number; got {value!r}.") from None
    if not np.isfinite(v) or v < 0 or (v == 0 and not allow_zero):
        bound = ">= 0" if allow_zero else "> 0"
        raise ValueError(f"`{name}` must be finite and {bound}; got {value!r}.")
    return v
