"""Propagation sequences: their statistics (footprint, latencies, amplitudes) and merging.

A sequence is a candidate unit: a root electrode, the electrodes its spikes reach (the "loose"
footprint), and per-electrode mean latency (frames, relative to the root) and mean amplitude (in
noise units). Statistics are computed from the network's logits and the scaled traces around each
of the sequence's spikes.
"""

from __future__ import annotations

import attrs
import numpy as np
import structlog

from .model import logit
from .params import RTSortParams

log = structlog.get_logger(__name__)


@attrs.define(slots=False)
class DetectionContext:
    """Logits, traces and geometry shared by detection, merging and assignment."""

    logits: np.ndarray  # (frames, channels), float32 or float16
    traces: np.ndarray  # (frames, channels), scaled and median-subtracted, as ``logits``
    noise: np.ndarray  # (channels,) robust noise of ``traces``
    locations: np.ndarray  # (channels, 2) um
    sampling_frequency: float
    params: RTSortParams
    stringent: float
    loose: float

    def __attrs_post_init__(self):
        diff = self.locations[:, None, :2] - self.locations[None, :, :2]
        self.distances = np.sqrt((diff**2).sum(axis=-1))

    @property
    def half_window(self) -> int:
        return max(1, int(round(self.params.ms_before * self.sampling_frequency / 1000)))

    @property
    def stringent_logit(self) -> np.float32:
        return np.float32(logit(self.stringent))

    @property
    def loose_logit(self) -> np.float32:
        return np.float32(logit(self.loose))

    def neighbours(self, channel: int, radius: float) -> np.ndarray:
        """Channels within ``radius`` of ``channel`` (excluding it), nearest first."""
        d = self.distances[channel]
        idx = np.nonzero((d <= radius) & (np.arange(d.size) != channel))[0]
        return idx[np.argsort(d[idx], kind="stable")]

    def windows(self, frames: np.ndarray, channels: np.ndarray):
        """Max logit, its offset (frames) and min trace in +-half_window around each frame.

        Returns arrays shaped (len(frames), len(channels)).
        """
        w = self.half_window
        idx = _window_index(frames, w, self.logits.shape[0])
        channels = np.asarray(channels)
        block = self.logits[idx[:, :, None], channels[None, None, :]].astype(np.float32, copy=False)  # (n, 2w+1, c)
        arg = block.argmax(axis=1)
        peak = np.take_along_axis(block, arg[:, None, :], axis=1)[:, 0, :]
        return peak, arg - w, window_trough(self.traces, frames, channels, w)


def _window_index(frames: np.ndarray, half_window: int, n_frames: int) -> np.ndarray:
    """(len(frames), 2 half_window + 1) frame indices around each frame, clipped to the data."""
    offsets = np.arange(-half_window, half_window + 1)
    return np.clip(np.asarray(frames)[:, None] + offsets[None, :], 0, n_frames - 1)


def window_trough(traces: np.ndarray, frames: np.ndarray, channels, half_window: int) -> np.ndarray:
    """Minimum of ``traces`` within +-``half_window`` frames of each frame, on each channel:
    shape (len(frames), len(channels))."""
    idx = _window_index(frames, half_window, traces.shape[0])
    channels = np.asarray(channels)
    return traces[idx[:, :, None], channels[None, None, :]].astype(np.float32, copy=False).min(axis=1)


#: Bytes of the float32 copy :func:`robust_noise` takes per block of channels.
NOISE_BLOCK_BYTES = 64 * 2**20


def robust_noise(traces: np.ndarray, floor: float = 1e-3) -> np.ndarray:
    """Per-channel median(|x|) / 0.6745 with a small floor, in float32.

    Taken a block of channels at a time: over a whole detection window at once, the absolute
    values and the median's working copy were twice the window's traces again (4 GB a minute of a
    1,020-channel array), the process's peak.
    """
    n_frames, n_channels = traces.shape
    step = max(1, NOISE_BLOCK_BYTES // (4 * max(n_frames, 1)))
    noise = np.empty(n_channels, dtype=np.float32)
    for first in range(0, n_channels, step):
        block = np.abs(traces[:, first:first + step], dtype=np.float32)
        noise[first:first + step] = np.median(block, axis=0)
    return np.maximum(noise / np.float32(0.6745), np.float32(floor))


@attrs.define
class Sequence:
    """A propagation sequence (candidate unit) and its statistics."""

    root: int
    spike_frames: np.ndarray
    split_electrodes: set = attrs.field(factory=set)
    roots: set = attrs.field(factory=set)
    probs: np.ndarray | None = None  # (channels,) median detection probability
    latencies: np.ndarray | None = None  # (channels,) mean latency in frames
    amplitudes: np.ndarray | None = None  # (channels,) mean amplitude / noise
    root_amp_std: float = 1.0
    amp_std: np.ndarray | None = None  # (channels,) std (ddof 1) of the amplitude / noise
    loose: np.ndarray | None = None  # bool (channels,)
    inner_loose: np.ndarray | None = None
    comparison: np.ndarray | None = None

    @property
    def root_amp(self) -> float:
        return float(self.amplitudes[self.root])


def min_loose(seq: Sequence, params: RTSortParams) -> int:
    """Loose electrodes that must cross the loose threshold for a spike to be assigned."""
    return max(params.min_loose_detections_n,
               int(np.ceil(params.min_loose_detections_r_spikes * int(seq.loose.sum()))))


def compute_stats(seq: Sequence, ctx: DetectionContext) -> bool:
    """Fill in ``seq``'s statistics from its spikes; return whether it passes the footprint gates."""
    params = ctx.params
    frames = np.asarray(seq.spike_frames, dtype=np.int64)
    n_channels = ctx.logits.shape[1]
    if frames.size == 0:
        return False
    seq.roots.add(seq.root)
    all_ch = np.arange(n_channels)
    peak, lat, trough = ctx.windows(frames, all_ch)
    peak[:, seq.root] = ctx.logits[frames, seq.root]
    lat[:, seq.root] = 0
    trough[:, seq.root] = ctx.traces[frames, seq.root]
    probs = np.median(1 / (1 + np.exp(-peak.astype(np.float64))), axis=0)
    probs[probs < params.min_loose_elec_prob] = 0.0
    amps = np.abs(trough) / ctx.noise[None, :]
    seq.probs = probs
    seq.latencies = lat.mean(axis=0)
    seq.amplitudes = amps.mean(axis=0)
    spread = amps.std(axis=0, ddof=1) if frames.size > 1 else np.ones(n_channels)
    seq.amp_std = np.maximum(spread, 1e-3)
    seq.root_amp_std = float(seq.amp_std[seq.root])
    anchors = sorted(seq.split_electrodes | seq.roots)
    near_anchor = (ctx.distances[anchors] <= params.inner_radius).any(axis=0)
    seq.loose = (probs >= ctx.loose) & near_anchor
    seq.loose[seq.root] = True
    near_root = (ctx.distances[sorted(seq.roots)] <= params.inner_radius).any(axis=0)
    seq.inner_loose = seq.loose & near_root
    near_loose = (ctx.distances[seq.loose] <= params.inner_radius).any(axis=0)
    seq.comparison = seq.loose | (near_loose & (probs > 0))
    noise_limit = max(params.min_elecs_for_seq_noise_n,
                      round(params.min_elecs_for_seq_noise_f * n_channels))
    if int((probs >= ctx.loose).sum()) >= noise_limit:
        return False
    return (int(seq.loose.sum()) >= params.min_loose_detections_n
            and int(seq.inner_loose.sum()) >= params.min_inner_loose_detections)


def _weighted(diff: np.ndarray, weights: np.ndarray, clip: float) -> float:
    total = weights.sum()
    if total <= 0:
        return np.inf
    return float((np.minimum(diff, clip) * weights).sum() / total)


def sequence_distance(a: Sequence, b: Sequence, ctx: DetectionContext):
    """Latency and amplitude differences between two sequences, or None if not mergeable."""
    params = ctx.params
    roots_a, roots_b = sorted(a.roots), sorted(b.roots)
    if not (ctx.distances[np.ix_(roots_a, roots_b)] < params.inner_radius).all():
        return None
    shared = a.loose & b.loose
    union = a.loose | b.loose
    if shared.sum() < params.min_loose_detections_n or \
            shared.sum() < params.min_loose_detections_r_sequences * union.sum():
        return None
    if (a.inner_loose & b.inner_loose).sum() < params.min_inner_loose_detections:
        return None
    big, small = (a, b) if a.root_amp >= b.root_amp else (b, a)
    comp = big.comparison.copy()
    weights = (a.probs + b.probs) / 2 * comp
    lat_w = weights.copy()
    lat_w[big.root] = 0
    ref = small.latencies[big.root]
    lat = _weighted(np.abs(big.latencies - (small.latencies - ref)), lat_w,
                    params.clip_latency_diff_factor * params.max_latency_diff_sequences)
    mean_amp = (a.amplitudes + b.amplitudes) / 2
    rel = np.abs(a.amplitudes - b.amplitudes) / np.maximum(mean_amp, 1e-6)
    amp = _weighted(rel, weights, params.clip_amp_median_diff_factor
                    * params.max_amp_median_diff_sequences)
    if lat > params.max_latency_diff_sequences or amp > params.max_amp_median_diff_sequences:
        return None
    # Root-amplitude compatibility on every root electrode of either sequence: both sequences'
    # mean amplitudes there must be within the allowed number of either one's standard deviations.
    roots = sorted(a.roots | b.roots)
    delta = np.abs(a.amplitudes[roots] - b.amplitudes[roots])
    z = np.maximum(delta / a.amp_std[roots], delta / b.amp_std[roots])
    if z.max() > params.max_root_amp_median_std_sequences:
        return None
    return lat / params.max_latency_diff_sequences + amp / params.max_amp_median_diff_sequences


def union_spikes(a: np.ndarray, b: np.ndarray, overlap_frames: int) -> np.ndarray:
    """Time-ordered union of two spike trains, dropping spikes within ``overlap_frames`` of the
    previous kept one."""
    merged = np.sort(np.concatenate([a, b]))
    if merged.size == 0:
        return merged
    keep = [merged[0]]
    for frame in merged[1:]:
        if frame - keep[-1] > overlap_frames:
            keep.append(frame)
    return np.asarray(keep, dtype=np.int64)


def merge_sequences(seqs: list[Sequence], ctx: DetectionContext,
                    same_root_only: bool = False) -> list[Sequence]:
    """Greedily merge the most similar admissible pair until none is left."""
    overlap = int(round(ctx.params.repeated_detection_overlap_time * ctx.sampling_frequency / 1000))
    # Sequences are keyed by their position in ``pool`` (never reused), not by ``id()``: a merged
    # sequence can get the id of one just freed, and a cached verdict would then be stale.
    pool = list(seqs)
    live = list(range(len(pool)))
    cache: dict[tuple[int, int], float | None] = {}
    while True:
        best, pair = np.inf, None
        for n, i in enumerate(live):
            for j in live[n + 1:]:
                if same_root_only and pool[i].root != pool[j].root:
                    continue
                if (i, j) not in cache:
                    cache[(i, j)] = sequence_distance(pool[i], pool[j], ctx)
                score = cache[(i, j)]
                if score is not None and score < best:
                    best, pair = score, (i, j)
        if pair is None:
            return [pool[i] for i in live]
        a, b = pool[pair[0]], pool[pair[1]]
        big, small = (a, b) if a.root_amp >= b.root_amp else (b, a)
        merged = Sequence(root=big.root,
                          spike_frames=union_spikes(big.spike_frames, small.spike_frames, overlap),
                          split_electrodes=big.split_electrodes | small.split_electrodes,
                          roots=big.roots | small.roots)
        compute_stats(merged, ctx)
        pool.append(merged)
        live = [i for i in live if i not in pair] + [len(pool) - 1]
        log.debug("rtsort.merge", sequences=len(live), root=merged.root)


def with_root(seq: Sequence, root: int, ctx: DetectionContext) -> Sequence:
    """``seq`` re-rooted at electrode ``root``: spike frames moved by the new root's mean
    latency (so they sit on its detection peak) and statistics recomputed."""
    if root == seq.root:
        return seq
    shift = int(round(float(seq.latencies[root])))
    last = ctx.logits.shape[0] - 1
    frames = np.clip(np.asarray(seq.spike_frames, dtype=np.int64) + shift, 0, last)
    moved = Sequence(root=int(root), spike_frames=np.unique(frames),
                     split_electrodes=set(seq.split_electrodes), roots=set(seq.roots) | {int(root)})
    compute_stats(moved, ctx)
    return moved


def relocate_root(seq: Sequence, ctx: DetectionContext) -> Sequence:
    """Move the root upstream (RT-Sort's relocation after the same-root merge round).

    Candidates are electrodes whose mean amplitude is at least ``relocate_root_min_amp`` times the
    root's and whose median detection probability reaches the stringent threshold; the earliest of
    them becomes the root when it fires at least ``-relocate_root_max_latency`` frames before it.
    """
    params = ctx.params
    candidates = np.nonzero((seq.amplitudes >= params.relocate_root_min_amp * seq.root_amp)
                            & (seq.probs >= ctx.stringent))[0]
    candidates = candidates[candidates != seq.root]
    if candidates.size == 0:
        return seq
    earliest = int(candidates[np.argmin(seq.latencies[candidates])])
    if seq.latencies[earliest] > params.relocate_root_max_latency:
        return seq
    return with_root(seq, earliest, ctx)
