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
from .sequences import Sequence, min_loose, window_trough


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
        return cls(
            roots=roots, electrodes=elecs,
            loose=np.array([s.loose[elecs] for s in seqs]).reshape(len(seqs), elecs.size),
            inner_loose=np.array([s.inner_loose[elecs] for s in seqs]).reshape(len(seqs),
                                                                               elecs.size),
            min_loose=np.array([min_loose(s, params) for s in seqs], dtype=np.int64),
            latency=np.array([s.latencies[elecs] for s in seqs]).reshape(len(seqs), elecs.size),
            amplitude=np.array([s.amplitudes[elecs] for s in seqs]).reshape(len(seqs),
                                                                            elecs.size),
            latency_weight=np.array(lat_w).reshape(len(seqs), elecs.size),
            amplitude_weight=np.array(amp_w).reshape(len(seqs), elecs.size),
            root_amp=np.array([s.root_amp for s in seqs]),
            root_amp_std=np.array([s.root_amp_std for s in seqs]),
            near=distances[np.ix_(roots, roots)] <= params.inner_radius,
            outer=(distances <= params.outer_radius) & ~np.eye(distances.shape[0], dtype=bool))


def _root_is_largest(bank, traces, noise, cand_f, cand_root, half_window, ratio):
    """Whether each candidate's root amplitude is at least ``ratio`` times the largest amplitude
    (trough within the co-detection window, in noise units) among the root's outer-radius
    electrodes: the preliminary sequences' largest-electrode rule, applied to candidates."""
    keep = np.ones(cand_f.size, dtype=bool)
    for root in np.unique(cand_root):
        rows = np.nonzero(cand_root == root)[0]
        outer = np.nonzero(bank.outer[root])[0]
        if outer.size == 0:
            continue
        trough = window_trough(traces, cand_f[rows], outer, half_window)
        largest = (np.abs(trough) / noise[outer][None, :]).max(axis=1)
        own = np.abs(window_trough(traces, cand_f[rows], [root], half_window)[:, 0]) / noise[root]
        keep[rows] = own >= ratio * largest
    return keep


def _window_peak_and_trough(logits, traces, frames, electrodes, half_window):
    """Largest logit, its offset (float frames) and the trough of ``traces`` within
    +-``half_window`` frames of each frame, on each electrode: three (frames, electrodes) arrays.

    One offset at a time, so each step gathers whole rows (frames are rows): an
    (n, 2 half_window + 1, electrodes) fancy index cost seconds per second of a 1,020-channel
    recording. Ties keep the earliest offset, as ``argmax`` does.
    """
    peak = logits[frames - half_window][:, electrodes]
    arg = np.zeros(peak.shape, dtype=np.float64)
    trough = traces[frames - half_window][:, electrodes]
    for step in range(1, 2 * half_window + 1):
        rows = frames - half_window + step
        candidate = logits[rows][:, electrodes]
        better = candidate > peak
        np.copyto(peak, candidate, where=better)
        arg[better] = step
        np.minimum(trough, traces[rows][:, electrodes], out=trough)
    return peak, arg - half_window, trough


def assign_spikes(bank: SequenceBank, logits: np.ndarray, traces: np.ndarray, noise: np.ndarray,
                  frame_range: tuple[int, int], params: RTSortParams, stringent_logit: float,
                  loose_logit: float, half_window: int, overlap_frames: int):
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

    Returns
    -------
    frames : np.ndarray
        Assigned spike frames, in assignment order.
    sequences : np.ndarray
        Index of the sequence of each spike.
    """
    lo, hi = frame_range
    if len(bank.roots) == 0 or hi <= lo:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    roots = np.unique(bank.roots)
    cand_f, cand_col = find_peaks(logits[lo - 1:hi + 1][:, roots], stringent_logit)
    keep = (cand_f >= 1) & (cand_f <= hi - lo)
    cand_f, cand_root = cand_f[keep] + lo - 1, roots[cand_col[keep]]
    n_channels = logits.shape[1]
    limit = max(params.min_elecs_for_array_noise_n,
                round(params.min_elecs_for_array_noise_f * n_channels))
    if cand_f.size and limit <= n_channels:
        ok = (logits[cand_f] >= loose_logit).sum(axis=1) <= limit
        cand_f, cand_root = cand_f[ok], cand_root[ok]
    if cand_f.size and params.min_root_amp_ratio_spikes > 0:
        keep = _root_is_largest(bank, traces, noise, cand_f, cand_root, half_window,
                                params.min_root_amp_ratio_spikes)
        cand_f, cand_root = cand_f[keep], cand_root[keep]
    if cand_f.size == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    elecs = bank.electrodes
    peak, lat, trough = _window_peak_and_trough(logits, traces, cand_f, elecs, half_window)
    amp = np.abs(trough) / noise[elecs][None, :]
    pos_root = {int(r): int(np.nonzero(elecs == r)[0][0]) for r in roots}
    root_col = np.array([pos_root[int(r)] for r in cand_root])
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
    order = np.argsort(-score[ok], kind="stable")
    pairs_c, pairs_k = pairs_c[ok][order], pairs_k[ok][order]
    taken: dict[int, list[int]] = {}
    out_f, out_k = [], []
    for c, k in zip(pairs_c, pairs_k):
        frame = int(cand_f[c])
        clash = False
        for other in range(frame - overlap_frames, frame + overlap_frames + 1):
            if any(bank.near[k, j] for j in taken.get(other, ())):
                clash = True
                break
        if clash:
            continue
        taken.setdefault(frame, []).append(int(k))
        out_f.append(frame)
        out_k.append(int(k))
    return np.asarray(out_f, dtype=np.int64), np.asarray(out_k, dtype=np.int64)
