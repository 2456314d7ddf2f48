"""Align logged stimulation times to the artifact actually seen in the recording.

Stimulation hardware logs when it was asked to stimulate; the artifact can land a few
milliseconds away. :func:`recenter_stim_times` searches a window around each logged time
and moves the event onto a feature of the artifact chosen by ``peak_mode``.
"""

from __future__ import annotations

from collections.abc import Callable

import attrs
import numpy as np
import structlog
from scipy.signal import find_peaks

from spikelab_stim._validation import check_fs, check_stim_times, check_traces
from spikelab_stim.params import RECENTER_OPTIONS, StimParams, stim_params

log = structlog.get_logger(__name__)

__all__ = ["RecenteringReport", "recenter_stim_times"]

_MAX_LOGGED_MOVES = 20


@attrs.frozen(eq=False)
class RecenteringReport:
    """What :func:`recenter_stim_times` did to each event.

    Attributes
    ----------
    logged_ms : np.ndarray
        The stim times as passed in (ms).
    corrected_ms : np.ndarray
        The recentred stim times (ms).
    offsets_ms : np.ndarray
        ``corrected_ms - logged_ms``.
    warn_offset_ms : float or None
        Events moved by more than this are listed in ``moved_indices``.
    moved_indices : np.ndarray
        Indices of the events moved by more than ``warn_offset_ms``.
    peak_mode : str
        The alignment mode used.
    """

    logged_ms: np.ndarray
    corrected_ms: np.ndarray
    offsets_ms: np.ndarray
    warn_offset_ms: float | None
    moved_indices: np.ndarray
    peak_mode: str

    @property
    def n_moved(self) -> int:
        """Number of events moved by more than ``warn_offset_ms``."""
        return int(self.moved_indices.size)


@attrs.frozen
class _AlignParams:
    peak_mode: str
    n_reference_channels: int
    prewindow: int
    multi_peak: bool
    multi_peak_select: str
    multi_peak_threshold: float
    multi_peak_distance: int


def recenter_stim_times(
    traces,
    stim_times_ms,
    fs_Hz,
    max_offset_ms=50.0,
    *,
    peak_mode="abs_max",
    n_reference_channels=8,
    prewindow_ms=5.0,
    warn_offset_ms=3.0,
    multi_peak=False,
    multi_peak_select="first",
    multi_peak_threshold=0.6,
    multi_peak_min_separation_ms=2.0,
    return_report=False,
):
    """Move each logged stim time onto the artifact it produced.

    Parameters
    ----------
    traces : np.ndarray
        Raw voltage, shaped (channels, samples).
    stim_times_ms : array-like
        Logged stim times in ms from the recording start, non-decreasing.
    fs_Hz : float
        Sampling rate in Hz.
    max_offset_ms : float, default: 50.0
        Half-width of the search window around each logged time.
    peak_mode : "abs_max" | "pos_peak" | "neg_peak" | "down_edge" | "up_edge", default: "abs_max"
        Which artifact feature defines the event time: the largest absolute voltage
        (monophasic pulses), the largest positive or most negative voltage, or the
        positive-to-negative ("down_edge", anodic-first biphasic) or negative-to-positive
        ("up_edge", cathodic-first biphasic) zero crossing between the two phases.
    n_reference_channels : int, default: 8
        For every mode except "abs_max", the reference trace is the polarity-aligned sum of
        the channels with the largest artifact in the search window; its sign follows the
        majority of those channels (channels of opposite polarity are flipped to match).
    prewindow_ms : float, default: 5.0
        For the edge modes, how far before the second-phase peak to look for the first phase.
    warn_offset_ms : float or None, default: 3.0
        Events moved by more than this are logged (one warning listing them) and returned
        in the report. None turns this off.
    multi_peak : bool, default: False
        If True, lock onto one of several pulses in the search window (paired pulses,
        trains) rather than the strongest one.
    multi_peak_select : "first" | "last", default: "first"
        Which qualifying pulse to lock onto when ``multi_peak`` is True.
    multi_peak_threshold : float, default: 0.6
        A peak counts as a pulse when it reaches this fraction of the strongest peak in the
        window; in (0, 1].
    multi_peak_min_separation_ms : float, default: 2.0
        Minimum spacing between candidate pulses.
    return_report : bool, default: False
        If True, also return a :class:`RecenteringReport`.

    Returns
    -------
    corrected_times : np.ndarray
        Recentred stim times in ms, same length and order as ``stim_times_ms``.
    report : RecenteringReport
        Only when ``return_report`` is True.
    """
    arr = check_traces(traces)
    fs = check_fs(fs_Hz)
    times = check_stim_times(stim_times_ms, arr.shape[1], fs)
    stim = stim_params("recenter_stim_times", dict(
        max_offset_ms=max_offset_ms, peak_mode=peak_mode, n_reference_channels=n_reference_channels,
        prewindow_ms=prewindow_ms, warn_offset_ms=warn_offset_ms, multi_peak=multi_peak,
        multi_peak_select=multi_peak_select, multi_peak_threshold=multi_peak_threshold,
        multi_peak_min_separation_ms=multi_peak_min_separation_ms,
    ), allowed=RECENTER_OPTIONS)
    params = make_align_params(fs, stim)
    corrected = recenter_with_reader(lambda a, b: arr[:, a:b], arr.shape[1], fs, times, stim.max_offset_ms, params)
    report = build_report(times, corrected, stim.warn_offset_ms, stim.peak_mode)
    return (corrected, report) if return_report else corrected


def make_align_params(fs: float, stim: StimParams) -> _AlignParams:
    """The alignment options of ``stim`` converted to samples."""
    return _AlignParams(
        peak_mode=stim.peak_mode,
        n_reference_channels=stim.n_reference_channels,
        prewindow=int(round(stim.prewindow_ms * fs / 1000.0)),
        multi_peak=stim.multi_peak,
        multi_peak_select=stim.multi_peak_select,
        multi_peak_threshold=stim.multi_peak_threshold,
        multi_peak_distance=max(1, int(round(stim.multi_peak_min_separation_ms * fs / 1000.0))),
    )


def recenter_with_reader(
    read: Callable[[int, int], np.ndarray],
    n_samples: int,
    fs: float,
    times_ms: np.ndarray,
    max_offset_ms: float,
    params: _AlignParams,
) -> np.ndarray:
    """Recenter ``times_ms`` reading only a window around each event through ``read(start, end)``."""
    half = int(round(max_offset_ms * fs / 1000.0))
    corrected = np.empty_like(times_ms)
    for k, t in enumerate(times_ms):
        center = int(round(t * fs / 1000.0))
        lo, hi = max(0, center - half), min(n_samples, center + half + 1)
        seg_lo = max(0, lo - params.prewindow)
        segment = np.asarray(read(seg_lo, hi), dtype=np.float64)
        idx = _align_one(segment, lo - seg_lo, params)
        corrected[k] = (seg_lo + idx) * 1000.0 / fs
    return corrected


def build_report(logged, corrected, warn_offset_ms, peak_mode) -> RecenteringReport:
    """Summarise offsets and log the events moved more than ``warn_offset_ms``."""
    offsets = corrected - logged
    if warn_offset_ms is None:
        moved = np.zeros(0, dtype=int)
    else:
        moved = np.flatnonzero(np.abs(offsets) > warn_offset_ms)
    med = float(np.median(np.abs(offsets))) if offsets.size else 0.0
    log.info("stim_recenter", n_events=int(offsets.size), peak_mode=peak_mode, median_abs_offset_ms=med)
    if moved.size:
        log.warning(
            "stim_recenter_large_offsets",
            n_moved=int(moved.size),
            warn_offset_ms=warn_offset_ms,
            events=[(int(i), round(float(offsets[i]), 3)) for i in moved[:_MAX_LOGGED_MOVES]],
            hint="check the stim log's clock and max_offset_ms",
        )
    swapped = np.flatnonzero(np.diff(corrected) < 0)
    if swapped.size:
        log.warning(
            "stim_recenter_order_changed",
            n_pairs=int(swapped.size),
            first_pairs=[(int(i), int(i) + 1) for i in swapped[:_MAX_LOGGED_MOVES]],
            hint="events now out of order: max_offset_ms may exceed half the inter-pulse interval; "
            "sort the corrected times (np.sort) before remove_stim_artifacts",
        )
    return RecenteringReport(
        logged_ms=np.asarray(logged, dtype=float),
        corrected_ms=corrected,
        offsets_ms=offsets,
        warn_offset_ms=warn_offset_ms,
        moved_indices=moved,
        peak_mode=peak_mode,
    )


def _reference(segment: np.ndarray, lo: int, params: _AlignParams) -> np.ndarray:
    """Build the 1-D reference trace used to locate the artifact in one segment."""
    stride = max(1, segment.shape[1] // 256)
    centred = segment - np.median(segment[:, ::stride], axis=1, keepdims=True)
    if params.peak_mode == "abs_max":
        return np.abs(centred).max(axis=0)
    peak = np.abs(centred[:, lo:]).max(axis=1)
    k = min(params.n_reference_channels, segment.shape[0])
    chans = np.argpartition(peak, -k)[-k:] if k < segment.shape[0] else np.arange(segment.shape[0])
    picked = centred[chans]
    strongest = picked[int(np.argmax(peak[chans]))]
    signs = np.sign(picked @ strongest)
    signs[signs == 0] = 1.0
    ref = signs @ picked
    # Channels near a stimulating electrode mostly share the pulse's polarity: keep the
    # majority's. The vote is over every channel with a large artifact (not only the K
    # picked, which can split evenly) and counts channels, not energy, which a long rail
    # hold would dominate.
    voters = centred[:, lo:][peak >= 0.5 * peak.max()]
    votes = np.sign(voters @ strongest[lo:])
    if (votes < 0).sum() > (votes > 0).sum():
        ref = -ref
    return ref


def _anchor(ref: np.ndarray, lo: int, kind: str, params: _AlignParams) -> int:
    """Index in ``ref`` of the peak of ``kind`` ("abs", "pos" or "neg") at or after ``lo``."""
    window = ref[lo:]
    signal = np.abs(window) if kind == "abs" else (window if kind == "pos" else -window)
    best = int(np.argmax(signal))
    if params.multi_peak and signal[best] > 0:
        peaks, _ = find_peaks(
            signal, height=params.multi_peak_threshold * signal[best], distance=params.multi_peak_distance
        )
        if peaks.size:
            best = int(peaks[0] if params.multi_peak_select == "first" else peaks[-1])
    return lo + best


def _edge(ref: np.ndarray, second: int, first_kind: str, params: _AlignParams) -> int:
    """Zero crossing between the first-phase peak (looked for before ``second``) and ``second``."""
    start = max(0, second - params.prewindow)
    if start >= second:
        return second
    pre = ref[start:second]
    first = start + int(np.argmax(pre) if first_kind == "pos" else np.argmin(pre))
    between = ref[first : second + 1]
    if first_kind == "pos":
        crossing = np.flatnonzero((between[:-1] > 0) & (between[1:] <= 0))
        slope_pick = np.argmin
    else:
        crossing = np.flatnonzero((between[:-1] < 0) & (between[1:] >= 0))
        slope_pick = np.argmax
    if crossing.size:  # the crossing nearest the second phase belongs to this pulse
        return first + int(crossing[-1]) + 1
    if between.size >= 2:
        return first + int(slope_pick(np.diff(between))) + 1
    return second


def _align_one(segment: np.ndarray, lo: int, params: _AlignParams) -> int:
    """Index (in ``segment``) of the artifact feature selected by ``params.peak_mode``."""
    ref = _reference(segment, lo, params)
    mode = params.peak_mode
    if mode == "abs_max":
        return _anchor(ref, lo, "abs", params)
    if mode == "pos_peak":
        return _anchor(ref, lo, "pos", params)
    if mode == "neg_peak":
        return _anchor(ref, lo, "neg", params)
    if mode == "down_edge":
        return _edge(ref, _anchor(ref, lo, "neg", params), "pos", params)
    return _edge(ref, _anchor(ref, lo, "pos", params), "neg", params)
