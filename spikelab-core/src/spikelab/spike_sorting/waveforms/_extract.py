"""Streaming waveform statistics: one pass over the chunks that hold sampled spikes.

Memory is bounded by what the output holds, never by the recording's length: one chunk of
traces (``chunk_duration_s`` plus a window) at a time, per-unit sums and sums of squares
(``units x samples x channels`` float64), and the raw snippets kept for ``SpikeData.raw_data``
(capped at ``snippet_budget_bytes``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import attrs
import numpy as np
from tqdm.auto import tqdm

if TYPE_CHECKING:
    from spikeinterface.core import BaseRecording

MAD_TO_STD = 0.6744897501960817
#: Snippets are cut and summed in batches of at most this many bytes (float64).
SNIPPET_BATCH_BYTES = 64 * 2**20


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
) -> SampledSpikes:
    """Choose up to ``max_per_group`` spikes per (unit, epoch) whose window fits in the recording."""
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
    chosen_frames, chosen_groups, chosen_snippet = [], [], []
    for unit in range(n_units):
        unit_frames: list[np.ndarray] = []
        for e in range(n_epochs):
            group = unit * n_epochs + e
            candidates = sorted_frames[bounds[group] : bounds[group + 1]]
            if candidates.size > max_per_group:
                candidates = np.sort(rng.choice(candidates, size=max_per_group, replace=False))
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
    """What one pass produces: sums per group, squares per unit, raw snippets."""

    sums: np.ndarray  # (groups, width, channels) float64
    counts: np.ndarray  # (groups,)
    squares: np.ndarray  # (units, width, channels) float64
    snippet_data: np.ndarray  # (channels, total) float32
    snippet_frames: np.ndarray  # (total,) frame of each snippet column


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
    """Read the chunks holding sampled spikes once each and accumulate the statistics."""
    n_channels = recording.get_num_channels()
    n_samples = recording.get_num_samples()
    n_epochs = max(n_groups // max(n_units, 1), 1)
    sums = np.zeros((n_groups, width, n_channels))
    squares = np.zeros((n_units, width, n_channels))
    counts = np.bincount(sampled.groups, minlength=n_groups)
    starts = sampled.frames - nbefore
    intervals = merge_windows(starts[sampled.snippet], width)
    total = int((intervals[:, 1] - intervals[:, 0]).sum()) if intervals.size else 0
    snippet_data = np.zeros((n_channels, total), dtype=np.float32)
    snippet_frames = np.concatenate([np.arange(a, b) for a, b in intervals]) if total else np.empty(0, np.int64)
    interval_offsets = np.concatenate([[0], np.cumsum(intervals[:, 1] - intervals[:, 0])]) if total else np.zeros(1)
    chunk_ids = np.unique(starts // chunk_size)
    batch = max(1, SNIPPET_BATCH_BYTES // (width * n_channels * 8))
    offsets = np.arange(width)
    for chunk in tqdm(chunk_ids, desc="waveforms", unit="chunk", disable=not progress_bar):
        lo = int(chunk * chunk_size)
        in_chunk = (starts >= lo) & (starts < lo + chunk_size)
        iv = np.flatnonzero((intervals[:, 0] >= lo) & (intervals[:, 0] < lo + chunk_size)) if total else np.empty(0, int)
        hi = min(n_samples, max(lo + chunk_size + width, int(intervals[iv, 1].max()) if iv.size else 0))
        traces = np.asarray(recording.get_traces(start_frame=lo, end_frame=hi, return_in_uV=in_uv), dtype=np.float32)
        local = starts[in_chunk] - lo
        groups = sampled.groups[in_chunk]
        for b in range(0, local.size, batch):
            _add_snippets(sums, squares, traces, local[b : b + batch], groups[b : b + batch], offsets, n_epochs)
        for i in iv:
            a, b = intervals[i]
            snippet_data[:, interval_offsets[i] : interval_offsets[i] + (b - a)] = traces[a - lo : b - lo].T
    return WaveformStats(sums, counts, squares, snippet_data, snippet_frames)


def _add_snippets(sums: np.ndarray, squares: np.ndarray, traces: np.ndarray, local: np.ndarray, groups: np.ndarray,
                  offsets: np.ndarray, n_epochs: int) -> None:
    """Add the snippets starting at ``local`` to their group sums and unit sums of squares."""
    order = np.argsort(groups, kind="stable")
    groups = groups[order]
    snippets = traces[local[order][:, None] + offsets].astype(np.float64)  # (k, width, channels)
    unique, first = np.unique(groups, return_index=True)
    sums[unique] += np.add.reduceat(snippets, first, axis=0)
    np.square(snippets, out=snippets)
    np.add.at(squares, unique // n_epochs, np.add.reduceat(snippets, first, axis=0))


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
    """Template, epoch templates, primary channel, amplitude and peak spread of every unit."""
    width, n_channels = stats.sums.shape[1:]
    out = []
    for unit in range(n_units):
        groups = slice(unit * n_epochs, (unit + 1) * n_epochs)
        count = int(stats.counts[groups].sum())
        if count == 0:
            out.append({"count": 0, "template": np.zeros((n_channels, width), np.float32), "epoch_templates": None})
            continue
        mean = stats.sums[groups].sum(axis=0) / count  # (width, channels)
        variance = np.maximum(stats.squares[unit] / count - mean**2, 0.0)
        channel = int(np.argmax(np.abs(mean).max(axis=0)))
        peak = int(np.argmax(np.abs(mean[:, channel])))
        epoch_templates = None
        if n_epochs > 1:
            epoch_templates = [
                (stats.sums[unit * n_epochs + e] / stats.counts[unit * n_epochs + e]).T.astype(np.float32)
                if stats.counts[unit * n_epochs + e] else None
                for e in range(n_epochs)
            ]
        out.append({
            "count": count, "template": mean.T.astype(np.float32), "channel": channel, "peak": peak,
            "amplitude": float(abs(mean[peak, channel])), "spread": float(np.sqrt(variance[peak, channel])),
            "epoch_templates": epoch_templates,
        })
    return out
