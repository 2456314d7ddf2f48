"""Propagation detection: root electrodes, co-detections and preliminary sequences.

For every electrode taken as a candidate root, stringent detections that are co-detected on nearby
electrodes and where the root is the locally largest electrode are collected; their co-detection
latencies are split into groups with Gaussian mixtures, electrode by electrode (a tree that walks
outwards from the root), and each group is optionally split again on the root amplitude. Every
resulting group of spike times is a preliminary propagation sequence.
"""

from __future__ import annotations

import numpy as np
import structlog

from .gmm1d import best_mixture_labels
from .inference import find_peaks
from .sequences import DetectionContext, Sequence

log = structlog.get_logger(__name__)


def root_codetections(ctx: DetectionContext, root: int, valid: tuple[int, int]):
    """Root frames kept for ``root`` and their co-detections on inner-radius electrodes.

    Returns
    -------
    frames : np.ndarray
        Kept root detection frames.
    inner : np.ndarray
        Inner-radius electrodes, nearest first.
    codetected : np.ndarray
        bool (frames, inner) co-detection at the stringent threshold.
    latencies : np.ndarray
        int (frames, inner) offset of each co-detection's peak.
    amps : np.ndarray
        Root amplitude (noise units) at each kept frame.
    """
    params = ctx.params
    inner = ctx.neighbours(root, params.inner_radius)
    empty = np.zeros(0, dtype=np.int64)
    if inner.size == 0:
        return empty, inner, np.zeros((0, 0), bool), np.zeros((0, 0), int), np.zeros(0)
    lo, hi = valid
    column = ctx.logits[lo:hi, root:root + 1]
    frames = find_peaks(column, ctx.stringent_logit)[0] + lo
    w = ctx.half_window
    frames = frames[(frames >= lo + w) & (frames < hi - w - 1)]
    n_channels = ctx.logits.shape[1]
    array_noise = max(params.min_elecs_for_array_noise_n,
                      round(params.min_elecs_for_array_noise_f * n_channels))
    if frames.size and array_noise <= n_channels:
        crossing = (ctx.logits[frames] >= ctx.loose_logit).sum(axis=1)
        frames = frames[crossing < array_noise]
    if frames.size == 0:
        return empty, inner, np.zeros((0, inner.size), bool), np.zeros((0, inner.size), int), \
            np.zeros(0)
    peak, lat, _ = ctx.windows(frames, inner)
    codetected = peak >= ctx.stringent_logit
    root_amp = np.abs(ctx.traces[frames, root]) / ctx.noise[root]
    outer = ctx.neighbours(root, params.outer_radius)
    if outer.size:
        _, _, trough = ctx.windows(frames, outer)
        largest = (np.abs(trough) / ctx.noise[outer][None, :]).max(axis=1)
        is_largest = root_amp >= largest
    else:
        is_largest = np.ones(frames.size, dtype=bool)
    keep = is_largest & codetected.any(axis=1)
    return frames[keep], inner, codetected[keep], lat[keep], root_amp[keep]


#: Variance floor (frames^2) of latency mixture components: one-frame jitter is not a split.
LATENCY_MIN_VAR = 0.25
#: A multi-component amplitude mixture must beat one Gaussian by this much BIC to split.
AMPLITUDE_MIN_BIC_GAIN = 10.0


def _split_tree(ctx, times, queue, used, patience, prev_dist, root, codet, lats, leaves):
    """Grow one branch of the latency-splitting tree (see module docstring)."""
    params = ctx.params
    queue = list(queue)
    while queue:
        if times.size <= params.min_coc_n:
            break
        elec = queue.pop(0)
        column = codet_column(codet, elec)
        used = used | {int(elec)}
        cod = times[column[times]]
        threshold = max(params.min_coc_n, params.min_coc_p / 100 * times.size)
        dist = ctx.distances[root, elec]
        if cod.size < threshold:
            if dist != prev_dist:
                patience += 1
            prev_dist = dist
            if patience >= params.elec_patience:
                break
            continue
        prev_dist = dist
        labels = best_mixture_labels(lats[cod, codet_index(codet, elec)],
                                     params.max_n_components_latency, LATENCY_MIN_VAR)
        if labels is None:
            if cod.size >= params.min_extend_comp_p / 100 * times.size:
                queue += _extension(ctx, elec, queue, used, codet)
            times, patience = cod, 0
            continue
        children = [cod[labels == k] for k in np.unique(labels)]
        children = [c for c in children if c.size >= threshold]
        if not children:
            times, patience = cod, 0
            continue
        for child in children:
            extra = _extension(ctx, elec, queue, used, codet) \
                if child.size >= params.min_extend_comp_p / 100 * times.size else []
            _split_tree(ctx, child, queue + extra, used, 0, dist, root, codet, lats, leaves)
        return
    leaves.append((times, used))


def codet_column(codet, elec):
    return codet["matrix"][:, codet["index"][int(elec)]]


def codet_index(codet, elec):
    return codet["index"][int(elec)]


def _extension(ctx, elec, queue, used, codet):
    """Inner-radius neighbours of ``elec`` that can be compared, not yet queued or used."""
    params = ctx.params
    candidates = ctx.neighbours(elec, params.inner_radius)
    return [int(c) for c in candidates if int(c) not in used and int(c) not in queue
            and int(c) in codet["index"]]


def _amplitude_split(ctx, times, amps_of):
    """Split a group of times on the root amplitude when a mixture clearly beats one Gaussian."""
    params = ctx.params
    if not params.split_coc_clusters_amps or times.size < 2 * params.min_coc_n:
        return [times]
    amps = amps_of(times)
    labels = best_mixture_labels(amps, params.max_n_components_amp, 1e-2,
                                 min_bic_gain=AMPLITUDE_MIN_BIC_GAIN)
    if labels is None:
        return [times]
    parts = [times[labels == k] for k in np.unique(labels)]
    parts = [p for p in parts if p.size >= params.min_coc_n]
    return parts or [times]


def detect_root_sequences(ctx: DetectionContext, root: int, valid: tuple[int, int]):
    """Preliminary sequences rooted at electrode ``root``."""
    params = ctx.params
    frames, inner, codetected, lat, amps = root_codetections(ctx, root, valid)
    if frames.size < params.min_coc_n:
        return []
    seconds = (valid[1] - valid[0]) / ctx.sampling_frequency
    activity = (codetected.sum(axis=1) >= params.min_activity_root_cocs).sum()
    if activity < params.min_activity_hz * seconds:
        return []
    # Every electrode within the outer radius may join the tree; co-detections are computed for
    # all of them (columns indexed through ``index``).
    comp = ctx.neighbours(root, params.outer_radius)
    peak, lat_all, _ = ctx.windows(frames, comp)
    codet = {"matrix": peak >= ctx.stringent_logit, "index": {int(c): i for i, c in
                                                                enumerate(comp)}}
    order = np.arange(frames.size)
    remaining = order.copy()
    sequences: list[Sequence] = []
    for start, first in enumerate(inner):
        if remaining.size < params.min_coc_n:
            break
        leaves: list = []
        queue = [int(first)] + [int(e) for e in inner[start + 1:]]
        _split_tree(ctx, remaining, queue, {int(root)}, 0, -1.0, root, codet, lat_all, leaves)
        claimed = []
        for times, used in leaves:
            if times.size < params.min_coc_n:
                continue
            for part in _amplitude_split(ctx, times, lambda t: amps[t]):
                sequences.append(Sequence(root=int(root), spike_frames=frames[np.sort(part)],
                                          split_electrodes=set(used), roots={int(root)}))
                claimed.append(part)
        if claimed:
            remaining = np.setdiff1d(remaining, np.concatenate(claimed))
    return sequences


def detect_preliminary_sequences(ctx: DetectionContext, valid: tuple[int, int] | None = None,
                                 progress_bar: bool = False) -> list[Sequence]:
    """Preliminary propagation sequences for every candidate root electrode."""
    from tqdm.auto import tqdm

    n_frames, n_channels = ctx.logits.shape
    pre = int(ctx.params.pre_median_ms * ctx.sampling_frequency / 1000)
    valid = valid or (min(pre, n_frames // 10), n_frames)
    sequences = []
    for root in tqdm(range(n_channels), desc="rtsort sequences", disable=not progress_bar):
        sequences += detect_root_sequences(ctx, root, valid)
    log.info("rtsort.preliminary_sequences", n=len(sequences))
    return sequences
