"""Streaming waveform statistics: one pass over the chunks that hold sampled spikes.

Only the stretches of the recording around sampled spikes are read (windows within 0.1 s merged
into one read), so a long recording costs reads in proportion to the sampled spikes, not its length.
Memory is bounded by what the output holds, never by the recording's length: one read of
traces (at most ``chunk_duration_s`` plus a window) at a time, per-unit sums and sums of squares
(``units x samples x channels`` float64), and the raw snippets kept for ``SpikeData.raw_data``
(capped at ``snippet_budget_bytes``). Arithmetic is bounded by each unit's neighbourhood: after its
first ``PROBE_SPIKES`` a unit is summed only over the channels near its peak, so on a 1,020-electrode
array the sums cost about a tenth of dense ones.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import attrs
import numpy as np
from tqdm.auto import tqdm

if TYPE_CHECKING:
    from spikeinterface.core import BaseRecording

MAD_TO_STD = 0.6744897501960817
#: Spike windows closer than this (samples, 0.1 s at 20 kHz) share one read: a read costs about
#: as much in overhead as copying this many more samples of a binary recording.
READ_GAP_SAMPLES = 2000


@attrs.define
class SampledSpikes:
    """Spikes chosen for waveforms.

    Parameters
    ----------
    frames : ndarray (k,)
        Peak frame of every sampled spike, sorted.
    groups : ndarray (k,)
        ``unit_index * n_epochs + epoch_index`` of each.
    snippet : ndarray of bool (k,)
        Whether its window is also kept as a raw snippet.
    """

    frames: np.ndarray
    groups: np.ndarray
    snippet: np.ndarray


#: Spikes are sampled by blocks of this many seconds of recording, taken in one random order
#: shared by every unit, so that the units' samples fall in the same stretches and the stage reads
#: (and band-passes) those stretches instead of the whole recording.
SAMPLE_BLOCK_S = 1.0
#: A unit takes at most ``ceil(max_per_group / MIN_SAMPLE_BLOCKS)`` spikes from one block before it
#: takes more from any block, so its sample spans at least this many blocks where it fires in as
#: many (bursts and drift are then averaged over the recording, not read from a few seconds).
MIN_SAMPLE_BLOCKS = 30


def sample_spikes(
    frames: np.ndarray,
    unit_index: np.ndarray,
    n_units: int,
    epoch_bounds: np.ndarray,
    n_samples: int,
    nbefore: int,
    nafter: int,
    max_per_group: int,
    max_snippets_per_unit: int,
    seed: int,
    block_samples: int | None = None,
) -> SampledSpikes:
    """Choose up to ``max_per_group`` spikes per (unit, epoch) whose window fits in the recording.

    A group with more spikes than that takes them block by block (``block_samples`` long, by
    default the whole recording as one block) in a random order of blocks that every group shares,
    at most ``ceil(max_per_group / MIN_SAMPLE_BLOCKS)`` from a block on each round, and at random
    within a block. Fast units therefore all draw from the same few dozen blocks, and a recording's
    length adds reads only for the units too sparse to fill their sample there.
    """
    rng = np.random.default_rng(seed)
    n_epochs = len(epoch_bounds) - 1
    fits = (frames - nbefore >= 0) & (frames + nafter <= n_samples)
    frames, unit_index = frames[fits], unit_index[fits]
    epoch = np.clip(np.searchsorted(epoch_bounds, frames, side="right") - 1, 0, n_epochs - 1)
    # one stable sort by (unit, epoch) instead of a scan of every spike per unit
    order = np.lexsort((frames, epoch, unit_index))
    keys = unit_index[order] * n_epochs + epoch[order]
    bounds = np.searchsorted(keys, np.arange(n_units * n_epochs + 1))
    sorted_frames = frames[order]
    block = max(int(block_samples or n_samples), 1)
    block_rank = rng.permutation(n_samples // block + 1)  # the order blocks are drawn in, one for all units
    per_round = -(-max_per_group // MIN_SAMPLE_BLOCKS)
    chosen_frames, chosen_groups, chosen_snippet = [], [], []
    for unit in range(n_units):
        unit_frames: list[np.ndarray] = []
        for e in range(n_epochs):
            group = unit * n_epochs + e
            candidates = sorted_frames[bounds[group] : bounds[group + 1]]
            if candidates.size > max_per_group:
                candidates = _draw_by_blocks(candidates, block, block_rank, per_round, max_per_group, rng)
            unit_frames.append(candidates)
            chosen_groups.append(np.full(candidates.size, group, dtype=np.int64))
        unit_all = np.concatenate(unit_frames) if unit_frames else np.empty(0, dtype=np.int64)
        keep = np.zeros(unit_all.size, dtype=bool)
        if max_snippets_per_unit > 0 and unit_all.size:
            picks = rng.choice(unit_all.size, size=min(max_snippets_per_unit, unit_all.size), replace=False)
            keep[picks] = True
        chosen_frames.append(unit_all)
        chosen_snippet.append(keep)
    frames_out = np.concatenate(chosen_frames).astype(np.int64) if chosen_frames else np.empty(0, np.int64)
    groups_out = np.concatenate(chosen_groups) if chosen_groups else np.empty(0, np.int64)
    snippet_out = np.concatenate(chosen_snippet) if chosen_snippet else np.empty(0, bool)
    order = np.argsort(frames_out, kind="stable")
    return SampledSpikes(frames_out[order], groups_out[order], snippet_out[order])


def _draw_by_blocks(candidates: np.ndarray, block: int, block_rank: np.ndarray, per_round: int, size: int,
                    rng: np.random.Generator) -> np.ndarray:
    """``size`` of the sorted ``candidates``: round by round, up to ``per_round`` from each block in
    ``block_rank`` order, at random within a block."""
    rank = block_rank[candidates // block]
    shuffle = rng.random(candidates.size)
    order = np.lexsort((shuffle, rank))  # by block rank, at random within a block
    ranked = rank[order]
    starts = np.flatnonzero(np.concatenate([[True], ranked[1:] != ranked[:-1]]))
    position = np.arange(candidates.size) - np.repeat(starts, np.diff(np.append(starts, candidates.size)))
    picked = order[np.lexsort((ranked, position // per_round))[:size]]
    return np.sort(candidates[picked])


def merge_windows(starts: np.ndarray, width: int) -> np.ndarray:
    """Union of ``[start, start + width)`` windows as ``(m, 2)`` sorted, non-overlapping intervals."""
    if starts.size == 0:
        return np.empty((0, 2), dtype=np.int64)
    starts = np.sort(starts)
    ends = starts + width
    new = np.ones(starts.size, dtype=bool)
    new[1:] = starts[1:] > np.maximum.accumulate(ends)[:-1]
    first = np.flatnonzero(new)
    last_end = np.maximum.reduceat(ends, first)
    return np.column_stack([starts[first], last_end]).astype(np.int64)


@attrs.define
class WaveformStats:
    """What one pass produces: sums per group, squares per unit, raw snippets.

    ``sums`` and ``squares`` hold, on a unit's neighbourhood (``neighbourhood[unit]``), the sums
    over all its sampled spikes, and elsewhere over its first ``probe_counts`` spikes only.
    """

    sums: np.ndarray  # (groups, width, channels) float64
    counts: np.ndarray  # (groups,)
    squares: np.ndarray  # (units, width, channels) float64
    snippet_data: np.ndarray  # (channels, total) float32
    snippet_frames: np.ndarray  # (total,) frame of each snippet column
    probe_counts: np.ndarray  # (groups,) spikes summed over every channel
    neighbourhood: np.ndarray  # (units, channels) bool


def read_blocks(starts: np.ndarray, width: int, chunk_size: int, gap: int) -> list[tuple[int, int]]:
    """Group sorted window starts into reads: ``(first, last + 1)`` index ranges of ``starts``.

    Windows closer than ``gap`` samples share a read; a read never spans more than
    ``chunk_size + width`` samples, which bounds the traces held at once.
    """
    if starts.size == 0:
        return []
    breaks = np.flatnonzero(starts[1:] - (starts[:-1] + width) > gap) + 1
    blocks = []
    for first, stop in zip(np.concatenate([[0], breaks]), np.concatenate([breaks, [starts.size]])):
        piece = (starts[first:stop] - starts[first]) // chunk_size
        cuts = np.flatnonzero(np.diff(piece)) + 1
        edges = np.concatenate([[0], cuts, [stop - first]]) + first
        blocks += [(int(lo), int(hi)) for lo, hi in zip(edges[:-1], edges[1:])]
    return blocks


def accumulate(
    recording: BaseRecording,
    sampled: SampledSpikes,
    n_units: int,
    n_groups: int,
    nbefore: int,
    width: int,
    chunk_size: int,
    in_uv: bool,
    progress_bar: bool,
) -> WaveformStats:
    """Read only the stretches around sampled spikes, once each, and accumulate the statistics.

    Each unit is summed over every channel for its first ``PROBE_SPIKES`` sampled spikes, then
    only over the channels within ``NEIGHBOURHOOD_UM`` of its peak channel so far (SpikeInterface's
    radius sparsity): on a 1,020-electrode array that is about a tenth of the channels.
    """
    n_channels = recording.get_num_channels()
    sums = np.zeros((n_groups, width, n_channels))
    squares = np.zeros((n_units, width, n_channels))
    counts = np.bincount(sampled.groups, minlength=n_groups)
    starts = sampled.frames - nbefore
    intervals = merge_windows(starts[sampled.snippet], width)
    lengths = intervals[:, 1] - intervals[:, 0]
    snippet_data = np.zeros((n_channels, int(lengths.sum())), dtype=np.float32)
    snippet_frames = (
        np.concatenate([np.arange(a, b) for a, b in intervals]) if intervals.size else np.empty(0, np.int64)
    )
    # column of each snippet window inside snippet_data (overlapping windows share columns)
    interval_offsets = np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(np.int64)
    owner = np.searchsorted(intervals[:, 0], starts, side="right") - 1
    snippet_pos = np.where(
        sampled.snippet,
        interval_offsets[np.clip(owner, 0, None)] + starts - intervals[np.clip(owner, 0, None), 0]
        if intervals.size
        else 0,
        -1,
    )
    locations = np.asarray(recording.get_channel_locations(), dtype=float)[:, :2]
    summer = _SparseSummer(sums, squares, max(n_groups // max(n_units, 1), 1), locations)
    offsets = np.arange(width)
    blocks = read_blocks(starts, width, chunk_size, READ_GAP_SAMPLES)
    for first, stop in tqdm(blocks, desc="waveforms", unit="read", disable=not progress_bar):
        lo, hi = int(starts[first]), int(starts[stop - 1]) + width
        traces = np.asarray(recording.get_traces(start_frame=lo, end_frame=hi, return_in_uV=in_uv), dtype=np.float32)
        local = starts[first:stop] - lo
        summer.add(traces, local[:, None] + offsets, sampled.groups[first:stop])
        keep = np.flatnonzero(sampled.snippet[first:stop])
        if keep.size:
            columns = snippet_pos[first:stop][keep][:, None] + offsets
            snippet_data[:, columns] = traces[local[keep][:, None] + offsets].transpose(2, 0, 1)
    return WaveformStats(sums, counts, squares, snippet_data, snippet_frames, summer.probe_counts, summer.neighbourhood)


#: Spikes of a unit summed over every channel before its neighbourhood is chosen.
PROBE_SPIKES = 50
#: Radius of a unit's neighbourhood around its peak channel (µm; SpikeInterface's default radius).
NEIGHBOURHOOD_UM = 100.0


class _SparseSummer:
    """Adds each read's snippets to the group sums and unit squares, on each unit's neighbourhood."""

    def __init__(self, sums: np.ndarray, squares: np.ndarray, n_epochs: int, locations: np.ndarray) -> None:
        self.sums, self.squares, self.n_epochs, self.locations = sums, squares, n_epochs, locations
        n_units, n_channels = squares.shape[0], squares.shape[2]
        self.probe_counts = np.zeros(sums.shape[0], dtype=np.int64)
        self.neighbourhood = np.ones((n_units, n_channels), dtype=bool)
        self._channels: list[np.ndarray | None] = [None] * n_units  # None: still probing

    def add(self, traces: np.ndarray, windows: np.ndarray, groups: np.ndarray) -> None:
        """Sum the ``(k, width)`` sample ``windows`` of ``traces`` into their ``groups``."""
        units = groups // self.n_epochs
        order = np.argsort(units, kind="stable")
        units, groups, windows = units[order], groups[order], windows[order]
        cuts = np.flatnonzero(np.diff(units)) + 1
        for lo, hi in zip(np.concatenate([[0], cuts]), np.concatenate([cuts, [units.size]])):
            unit = int(units[lo])
            if self._channels[unit] is None:  # the first PROBE_SPIKES, whatever the reads, on every channel
                first = unit * self.n_epochs
                split = min(hi, lo + PROBE_SPIKES - int(self.probe_counts[first : first + self.n_epochs].sum()))
                self._add(unit, None, groups[lo:split], traces[windows[lo:split]].astype(np.float64))
                if self.probe_counts[first : first + self.n_epochs].sum() >= PROBE_SPIKES:
                    self._choose_neighbourhood(unit)
                lo = split
            if lo < hi:
                channels = self._channels[unit]
                self._add(unit, channels, groups[lo:hi], traces[windows[lo:hi, :, None], channels].astype(np.float64))

    def _add(self, unit: int, channels: np.ndarray | None, groups: np.ndarray, snippets: np.ndarray) -> None:
        where = slice(None) if channels is None else channels
        for group in np.unique(groups):
            mine = snippets[groups == group]
            self.sums[group][:, where] += mine.sum(axis=0)
            if channels is None:
                self.probe_counts[group] += len(mine)
        self.squares[unit][:, where] += np.square(snippets).sum(axis=0)

    def _choose_neighbourhood(self, unit: int) -> None:
        """Channels within ``NEIGHBOURHOOD_UM`` of the peak channel of the unit's probe mean."""
        first = unit * self.n_epochs
        mean = self.sums[first : first + self.n_epochs].sum(axis=0)
        peak = int(np.argmax(np.abs(mean).max(axis=0)))
        distance = np.linalg.norm(self.locations - self.locations[peak], axis=1)
        self.neighbourhood[unit] = distance <= NEIGHBOURHOOD_UM
        self._channels[unit] = np.flatnonzero(self.neighbourhood[unit])


def noise_levels(
    recording: BaseRecording, in_uv: bool, n_chunks: int = 20, chunk_size: int = 10000, seed: int = 0
) -> np.ndarray:
    """Robust noise per channel: each random chunk's ``MAD / 0.6745``, averaged over the chunks.

    The definition of SpikeInterface's ``get_noise_levels(method="mad")`` and of
    :func:`spikelab.spikedata.waveforms.noise_levels`; one chunk is in memory at a time.
    """
    n = recording.get_num_samples()
    size = min(chunk_size, n)
    rng = np.random.default_rng(seed)
    count = min(n_chunks, max(n // size, 1))
    starts = np.sort(rng.choice(max(n - size, 0) + 1, size=count, replace=False))
    levels = []
    for s in starts:
        traces = np.asarray(recording.get_traces(start_frame=int(s), end_frame=int(s) + size, return_in_uV=in_uv),
                            dtype=np.float32)
        median = np.median(traces, axis=0)
        levels.append(np.median(np.abs(traces - median), axis=0) / MAD_TO_STD)
    return np.mean(np.asarray(levels), axis=0)


def unit_summaries(stats: WaveformStats, n_units: int, n_epochs: int, nbefore: int) -> list[dict[str, Any]]:
    """Template, epoch templates, primary channel, amplitude and peak spread of every unit.

    On a unit's neighbourhood the template is the mean of all its sampled spikes; elsewhere the
    mean of its first ``PROBE_SPIKES`` (where its amplitude is below the noise anyway).
    """
    width, n_channels = stats.sums.shape[1:]
    out = []
    for unit in range(n_units):
        groups = slice(unit * n_epochs, (unit + 1) * n_epochs)
        count = int(stats.counts[groups].sum())
        if count == 0:
            out.append({"count": 0, "template": np.zeros((n_channels, width), np.float32), "epoch_templates": None})
            continue
        inside = stats.neighbourhood[unit]
        divisor = np.where(inside, count, int(stats.probe_counts[groups].sum()))  # (channels,)
        mean = stats.sums[groups].sum(axis=0) / divisor
        variance = np.maximum(stats.squares[unit] / divisor - mean**2, 0.0)
        channel = int(np.argmax(np.abs(mean).max(axis=0)))
        peak = int(np.argmax(np.abs(mean[:, channel])))
        epoch_templates = None
        if n_epochs > 1:
            epoch_templates = [_group_mean(stats, unit * n_epochs + e, inside) for e in range(n_epochs)]
        out.append({
            "count": count, "template": mean.T.astype(np.float32), "channel": channel, "peak": peak,
            "amplitude": float(abs(mean[peak, channel])), "spread": float(np.sqrt(variance[peak, channel])),
            "epoch_templates": epoch_templates,
        })
    return out


def _group_mean(stats: WaveformStats, group: int, inside: np.ndarray) -> np.ndarray | None:
    """``(channels, width)`` mean of one (unit, epoch) group, or None without spikes."""
    if not stats.counts[group]:
        return None
    divisor = np.where(inside, stats.counts[group], max(int(stats.probe_counts[group]), 1))
    return (stats.sums[group] / divisor).T.astype(np.float32)
