"""Propagation detection on hand-built logits: two units share a root but propagate differently."""

import numpy as np

from spikelab_rtsort.params import RTSortParams
from spikelab_rtsort.propagation import detect_root_sequences
from spikelab_rtsort.sequences import DetectionContext, compute_stats


def _context(n_spikes=40, seed=0):
    rng = np.random.default_rng(seed)
    n_frames, fs = 200_000, 20000.0
    locations = np.array([[0.0, 0.0], [20.0, 0.0], [40.0, 0.0], [0.0, 20.0], [20.0, 20.0]])
    logits = np.full((n_frames, 5), -10.0, np.float32)
    traces = rng.normal(0, 1, (n_frames, 5)).astype(np.float32)
    frames = np.sort(rng.choice(np.arange(2000, n_frames - 2000, 50), 2 * n_spikes, replace=False))
    unit = np.arange(frames.size) % 2  # alternate units A (0) and B (1)
    # unit A propagates 1 -> 2 -> 4 after the root; unit B reaches 1, 3 and 4 before it
    delays = {0: {1: 3, 2: 6, 3: 1, 4: 4}, 1: {1: -5, 2: -2, 3: -6, 4: -4}}
    for f, u in zip(frames, unit):
        logits[f, 0] = 3.0
        traces[f, 0] = -12.0
        for channel, delay in delays[u].items():
            logits[f + delay, channel] = 2.0
            traces[f + delay, channel] = -6.0
    params = RTSortParams(min_activity_hz=0.0)
    ctx = DetectionContext(logits, traces, np.ones(5, np.float32), locations, fs, params,
                           stringent=0.3, loose=0.1)
    return ctx, frames, unit


def test_latency_tree_separates_units_sharing_a_root():
    ctx, frames, unit = _context()
    sequences = detect_root_sequences(ctx, 0, (1000, ctx.logits.shape[0] - 1000))
    assert len(sequences) == 2
    found = sorted((sorted(s.spike_frames.tolist()) for s in sequences), key=lambda t: t[0])
    truth = sorted((sorted(frames[unit == u].tolist()) for u in (0, 1)), key=lambda t: t[0])
    assert found == truth


def test_sequence_statistics_recover_latencies_and_footprint():
    ctx, frames, unit = _context()
    sequences = detect_root_sequences(ctx, 0, (1000, ctx.logits.shape[0] - 1000))
    by_first = {int(s.spike_frames[0]): s for s in sequences}
    seq_a = by_first[int(frames[unit == 0][0])]
    assert compute_stats(seq_a, ctx)
    np.testing.assert_allclose(seq_a.latencies, [0, 3, 6, 1, 4])
    assert seq_a.loose.all()
    assert seq_a.amplitudes[0] > seq_a.amplitudes[1:].max()


def test_root_that_is_not_the_largest_electrode_forms_no_sequence():
    ctx, _, _ = _context()
    # electrode 1 co-detects everything but is always smaller than electrode 0 nearby
    assert detect_root_sequences(ctx, 1, (1000, ctx.logits.shape[0] - 1000)) == []
