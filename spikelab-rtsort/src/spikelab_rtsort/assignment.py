"""Assigning detections to propagation sequences (shared by offline and streaming sorting).

Candidates are stringent local maxima of the logits on a sequence's root electrode where the root
is not much smaller than the largest electrode within the outer radius
(``min_root_amp_ratio_spikes``; a spike far larger elsewhere belongs to a unit centred there). Every
(candidate, sequence) pair with the same root is scored from the sequence's footprint: enough loose
and inner-loose electrodes must cross the loose threshold, and the weighted latency and amplitude
differences and the root amplitude z-score must be small. Pairs are then assigned greedily by score;
an assigned spike suppresses all sequences whose roots are within the inner radius for
``repeated_detection_overlap_time``.
"""

from __future__ import annotations

import attrs
import numpy as np

from .inference import find_peaks
from .params import RTSortParams
from .sequences import Sequence, min_loose


@attrs.frozen
class SequenceBank:
    """Per-sequence arrays over the union of all comparison electrodes."""

    roots: np.ndarray  # (K,)
    electrodes: np.ndarray  # (M,) union of comparison electrodes
    loose: np.ndarray  # (K, M) bool
    inner_loose: np.ndarray  # (K, M) bool
    min_loose: np.ndarray  # (K,)
    latency: np.ndarray  # (K, M) mean latency
    amplitude: np.ndarray  # (K, M) mean amplitude
    latency_weight: np.ndarray  # (K, M), root excluded, normalised
    amplitude_weight: np.ndarray  # (K, M), root included, normalised
    root_amp: np.ndarray  # (K,)
    root_amp_std: np.ndarray  # (K,)
    near: np.ndarray  # (K, K) roots within the inner radius
    outer: np.ndarray  # (C, C) bool: electrodes within the outer radius of each electrode
    unique_roots: np.ndarray  # (R,) sorted distinct roots
    weighed: np.ndarray  # (R, M) bool: a sequence with that root weighs the electrode's latency
    column: np.ndarray  # (C,) position of each electrode in ``electrodes``, -1 if absent

    @classmethod
    def build(cls, seqs: list[Sequence], distances: np.ndarray, params: RTSortParams):
        comp = np.zeros(distances.shape[0], dtype=bool)
        for seq in seqs:
            comp |= seq.comparison
        elecs = np.nonzero(comp)[0]
        roots = np.array([s.root for s in seqs], dtype=np.int64)
        lat_w, amp_w = [], []
        for seq in seqs:
            weights = seq.probs[elecs] * seq.comparison[elecs]
            amp_w.append(weights / max(weights.sum(), 1e-9))
            weights = np.where(elecs == seq.root, 0.0, weights)
            lat_w.append(weights / max(weights.sum(), 1e-9))
        latency_weight = np.array(lat_w).reshape(len(seqs), elecs.size)
        unique_roots = np.unique(roots)
        weighed = np.zeros((unique_roots.size, elecs.size), dtype=bool)
        np.logical_or.at(weighed, np.searchsorted(unique_roots, roots), latency_weight > 0)
        column = np.full(distances.shape[0], -1, dtype=np.int64)
        column[elecs] = np.arange(elecs.size)
        return cls(
            roots=roots, electrodes=elecs,
            loose=np.array([s.loose[elecs] for s in seqs]).reshape(len(seqs), elecs.size),
            inner_loose=np.array([s.inner_loose[elecs] for s in seqs]).reshape(len(seqs),
                                                                               elecs.size),
            min_loose=np.array([min_loose(s, params) for s in seqs], dtype=np.int64),
            latency=np.array([s.latencies[elecs] for s in seqs]).reshape(len(seqs), elecs.size),
            amplitude=np.array([s.amplitudes[elecs] for s in seqs]).reshape(len(seqs),
                                                                            elecs.size),
            latency_weight=latency_weight,
            amplitude_weight=np.array(amp_w).reshape(len(seqs), elecs.size),
            root_amp=np.array([s.root_amp for s in seqs]),
            root_amp_std=np.array([s.root_amp_std for s in seqs]),
            near=distances[np.ix_(roots, roots)] <= params.inner_radius,
            outer=(distances <= params.outer_radius) & ~np.eye(distances.shape[0], dtype=bool),
            unique_roots=unique_roots, weighed=weighed, column=column)


#: Candidates scored at a time: bounds the (candidates, electrodes) arrays of a long block
#: (about 60 MB at 1,020 channels) whatever its length.
SCORE_BLOCK = 1024

#: Candidates handled per block in :func:`_window_max_min` (bounds its (block, window, channels)
#: gathers to about 11 MB at 1,020 channels).
CANDIDATE_BLOCK = 128


def _window_max_min(logits, traces, frames, half_window):
    """Largest logit and trough of ``traces`` within +-``half_window`` frames of each frame, on
    every channel: two (frames, channels) arrays.

    Whole rows are gathered (frames are rows), ``CANDIDATE_BLOCK`` candidates at a time: an
    index on both axes at once cost seconds per second of a 1,020-channel recording.
    """
    offsets = np.arange(-half_window, half_window + 1)
    peak = np.empty((frames.size, logits.shape[1]), dtype=np.float32)
    trough = np.empty((frames.size, traces.shape[1]), dtype=np.float32)
    for first in range(0, frames.size, CANDIDATE_BLOCK):
        rows = frames[first:first + CANDIDATE_BLOCK, None] + offsets  # (b, 2 w + 1)
        # (float16 windows are widened first: numpy reduces float16 several times slower)
        np.max(logits[rows].astype(np.float32, copy=False), axis=1,
               out=peak[first:first + CANDIDATE_BLOCK])
        np.min(traces[rows].astype(np.float32, copy=False), axis=1,
               out=trough[first:first + CANDIDATE_BLOCK])
    return peak, trough


def _window_argmax(logits, frames, channels, half_window):
    """Offset (frames, earliest on ties) of the largest logit within +-``half_window`` frames of
    each ``frames[i]`` on ``channels[i]``: the latency of (candidate, electrode) pairs. Only the
    pairs a score weighs are asked for; over every electrode of a 1,020-channel array this
    arg-max was most of a 5 ms streaming chunk's assignment."""
    offsets = np.arange(-half_window, half_window + 1)
    window = logits[frames[:, None] + offsets, channels[:, None]].astype(np.float32, copy=False)  # (pairs, 2 w + 1)
    return window.argmax(axis=1) - half_window


def _root_is_largest(bank, amp_all, cand_root, ratio):
    """Whether each candidate's root amplitude is at least ``ratio`` times the largest amplitude
    among the root's outer-radius electrodes (``amp_all``: window trough in noise units of every
    channel, (candidates, channels)): the preliminary sequences' largest-electrode rule, applied
    to candidates."""
    largest = np.where(bank.outer[cand_root], amp_all, 0).max(axis=1)
    own = amp_all[np.arange(cand_root.size), cand_root]
    return own >= ratio * largest


def assign_spikes(bank: SequenceBank, logits: np.ndarray, traces: np.ndarray, noise: np.ndarray,
                  frame_range: tuple[int, int], params: RTSortParams, stringent_logit: float,
                  loose_logit: float, half_window: int, overlap_frames: int,
                  progress_bar: bool = False):
    """Assign the spikes whose root peak lies in ``frame_range``.

    Parameters
    ----------
    bank : SequenceBank
        The sequences.
    logits, traces : np.ndarray
        (frames, channels) logits and scaled traces; frames ``frame_range[0] - half_window - 1``
        to ``frame_range[1] + half_window + 1`` must be valid.
    noise : np.ndarray
        Per-channel noise of ``traces``.
    frame_range : tuple of int
        Half-open range of candidate frames.
    params : RTSortParams
        Parameters.
    stringent_logit, loose_logit : float
        Thresholds as logits.
    half_window : int
        Co-detection half window in frames.
    overlap_frames : int
        Duplicate-suppression window in frames.
    progress_bar : bool, default: False
        Show a bar over the candidate blocks (a detection window of a whole array takes minutes,
        and a silent log is what the inactivity watchdog stops as hung).

    Returns
    -------
    frames : np.ndarray
        Assigned spike frames, in assignment order.
    sequences : np.ndarray
        Index of the sequence of each spike.
    """
    lo, hi = frame_range
    # float32 thresholds: against float16 logits a Python float would be compared in float16
    stringent_logit, loose_logit = np.float32(stringent_logit), np.float32(loose_logit)
    empty = np.zeros(0, np.int64), np.zeros(0, np.int64)
    if len(bank.roots) == 0 or hi <= lo:
        return empty
    roots = bank.unique_roots
    cand_f, cand_col = find_peaks(logits[lo - 1:hi + 1], stringent_logit, columns=roots)
    keep = (cand_f >= 1) & (cand_f <= hi - lo)
    cand_f, cand_root = cand_f[keep] + lo - 1, roots[cand_col[keep]]
    blocks = range(0, cand_f.size, SCORE_BLOCK)
    if progress_bar:
        from tqdm.auto import tqdm

        blocks = tqdm(blocks, desc="rtsort assignment")
    scored = [_score_candidates(bank, logits, traces, noise, cand_f[first:first + SCORE_BLOCK],
                                cand_root[first:first + SCORE_BLOCK], params, loose_logit,
                                half_window)
              for first in blocks]
    if not scored:
        return empty
    frames, seqs, score = (np.concatenate(parts) for parts in zip(*scored))
    order = np.argsort(-score, kind="stable")
    return _greedy(bank, frames[order], seqs[order], overlap_frames)


def _score_candidates(bank, logits, traces, noise, cand_f, cand_root, params, loose_logit,
                      half_window):
    """Frame, sequence and score of every (candidate, sequence) pair that passes the gates, in
    candidate then sequence order."""
    empty = np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0)
    n_channels = logits.shape[1]
    limit = max(params.min_elecs_for_array_noise_n,
                round(params.min_elecs_for_array_noise_f * n_channels))
    if cand_f.size and limit <= n_channels:
        ok = (logits[cand_f] >= loose_logit).sum(axis=1) <= limit
        cand_f, cand_root = cand_f[ok], cand_root[ok]
    if cand_f.size == 0:
        return empty
    elecs = bank.electrodes
    peak, trough = _window_max_min(logits, traces, cand_f, half_window)
    amp_all = np.abs(trough) / noise[None, :]
    if params.min_root_amp_ratio_spikes > 0:
        keep = _root_is_largest(bank, amp_all, cand_root, params.min_root_amp_ratio_spikes)
        cand_f, cand_root, peak, amp_all = cand_f[keep], cand_root[keep], peak[keep], amp_all[keep]
        if cand_f.size == 0:
            return empty
    all_channels = elecs.size == n_channels  # (elecs is sorted)
    peak, amp = (peak, amp_all) if all_channels else (peak[:, elecs], amp_all[:, elecs])
    # latencies only where a sequence with the candidate's root weighs them (0 elsewhere: a
    # zero weight makes the value irrelevant)
    pair_c, pair_m = np.nonzero(bank.weighed[np.searchsorted(bank.unique_roots, cand_root)])
    lat = np.zeros(peak.shape, dtype=np.float64)
    lat[pair_c, pair_m] = _window_argmax(logits, cand_f[pair_c], elecs[pair_m], half_window)
    root_col = bank.column[cand_root]
    amp[np.arange(cand_f.size), root_col] = np.abs(traces[cand_f, cand_root]) / noise[cand_root]
    lat[np.arange(cand_f.size), root_col] = 0.0
    crossing = peak >= loose_logit  # (n, M)
    n_cross = np.maximum(crossing.sum(axis=1), 1)
    pairs_c, pairs_k = np.nonzero(cand_root[:, None] == bank.roots[None, :])
    cross = crossing[pairs_c]
    loose_n = (cross & bank.loose[pairs_k]).sum(axis=1)
    inner_n = (cross & bank.inner_loose[pairs_k]).sum(axis=1)
    lat_max, amp_max = params.max_latency_diff_spikes, params.max_amp_median_diff_spikes
    lat_d = np.minimum(np.abs(lat[pairs_c] - bank.latency[pairs_k]),
                       params.clip_latency_diff_factor * lat_max)
    lat_d = (lat_d * bank.latency_weight[pairs_k]).sum(axis=1)
    mean_amp = np.maximum(bank.amplitude[pairs_k], 1e-6)
    amp_d = np.minimum(np.abs(amp[pairs_c] - mean_amp) / mean_amp,
                       params.clip_amp_median_diff_factor * amp_max)
    amp_d = (amp_d * bank.amplitude_weight[pairs_k]).sum(axis=1)
    root_amp = amp[pairs_c, root_col[pairs_c]]
    z = np.abs(root_amp - bank.root_amp[pairs_k]) / bank.root_amp_std[pairs_k]
    ok = ((inner_n >= params.min_inner_loose_detections) & (loose_n >= bank.min_loose[pairs_k])
          & (lat_d <= lat_max) & (amp_d <= amp_max) & (z <= params.max_root_amp_median_std_spikes))
    score = 2.1 - (lat_d / lat_max + amp_d / amp_max - 0.5 * loose_n / n_cross[pairs_c])
    return cand_f[pairs_c[ok]], pairs_k[ok], score[ok]


def _greedy(bank, frames, seqs, overlap_frames):
    """Assign pairs in the given (best-first) order; an assigned spike suppresses the sequences
    whose roots are within the inner radius for ``overlap_frames``."""
    taken: dict[int, list[int]] = {}
    out_f, out_k = [], []
    for frame, k in zip(frames.tolist(), seqs.tolist()):
        clash = False
        for other in range(frame - overlap_frames, frame + overlap_frames + 1):
            if any(bank.near[k, j] for j in taken.get(other, ())):
                clash = True
                break
        if clash:
            continue
        taken.setdefault(frame, []).append(k)
        out_f.append(frame)
        out_k.append(k)
    return np.asarray(out_f, dtype=np.int64), np.asarray(out_k, dtype=np.int64)
