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


def _assigned(ctx, sequences, params=None):
    from spikelab_rtsort.assignment import SequenceBank, assign_spikes
    from spikelab_rtsort.model import logit

    params = params or ctx.params
    bank = SequenceBank.build(sequences, ctx.distances, params)
    frames, _ = assign_spikes(bank, ctx.logits, ctx.traces, ctx.noise,
                              (1000, ctx.logits.shape[0] - 1000), params, logit(ctx.stringent),
                              logit(ctx.loose), ctx.half_window, overlap_frames=4)
    return set(frames.tolist())


def test_spike_much_larger_on_a_nearby_electrode_is_not_given_to_the_root():
    ctx, frames, unit = _context()
    sequences = detect_root_sequences(ctx, 0, (1000, ctx.logits.shape[0] - 1000))
    assert all(compute_stats(s, ctx) for s in sequences)
    assert _assigned(ctx, sequences) == set(frames.tolist())
    # unit A's spikes become three times larger on electrode 2 than on the root: they belong to
    # a unit centred elsewhere, seen on the root's flank
    for f in frames[unit == 0]:
        ctx.traces[f + 6, 2] = -40.0
    assert _assigned(ctx, sequences) == set(frames[unit == 1].tolist())
    relaxed = ctx.params.override(min_root_amp_ratio_spikes=0.0)
    assert _assigned(ctx, sequences, relaxed) == set(frames.tolist())


def _stub_sequence(root, amplitudes):
    from spikelab_rtsort.sequences import Sequence

    n = len(amplitudes)
    everywhere = np.ones(n, dtype=bool)
    return Sequence(root=root, spike_frames=np.arange(20), roots={root}, probs=np.full(n, 0.9),
                    latencies=np.zeros(n), amplitudes=np.asarray(amplitudes, float),
                    amp_std=np.ones(n), root_amp_std=1.0, loose=everywhere,
                    inner_loose=everywhere, comparison=everywhere)


def test_neighbours_with_different_amplitudes_on_their_roots_are_not_merged():
    from spikelab_rtsort.sequences import sequence_distance

    ctx, _, _ = _context()
    # same latencies everywhere (no propagation), roots 20 um apart; each sequence is largest
    # on its own root and the root amplitudes are close (10 vs 9), but sequence b is 4 standard
    # deviations smaller than a on a's root electrode: two units
    a = _stub_sequence(0, [10.0, 8.0, 6.0, 6.0, 6.0])
    b = _stub_sequence(1, [6.0, 9.0, 6.0, 6.0, 6.0])
    assert sequence_distance(a, b, ctx) is None
    # the same unit found from two roots: compatible on both root electrodes
    c = _stub_sequence(1, [9.5, 8.5, 6.0, 6.0, 6.0])
    assert sequence_distance(a, c, ctx) is not None


def test_unit_covering_most_of_a_small_array_is_not_sequence_noise():
    rng = np.random.default_rng(1)
    n_frames, fs = 40_000, 20000.0
    grid = np.array([[x * 17.5, y * 17.5] for x in range(8) for y in range(8)])
    logits = np.full((n_frames, 64), -10.0, np.float32)
    traces = rng.normal(0, 1, (n_frames, 64)).astype(np.float32)
    frames = np.arange(2000, n_frames - 2000, 400)
    for f in frames:  # a large unit at electrode 27 reaches 60 of the 64 electrodes
        logits[f, :60] = 2.0
        traces[f, :60] = -6.0
        logits[f, 27], traces[f, 27] = 4.0, -20.0
    from spikelab_rtsort.sequences import Sequence

    ctx = DetectionContext(logits, traces, np.ones(64, np.float32), grid, fs, RTSortParams(),
                           stringent=0.3, loose=0.1)
    seq = Sequence(root=27, spike_frames=frames, split_electrodes={26, 28, 19, 35})
    assert compute_stats(seq, ctx)
    assert (seq.probs >= ctx.loose).sum() == 60
    # braindance's floor of 50 electrodes discarded such a unit as sequence noise
    ctx.params = ctx.params.override(min_elecs_for_seq_noise_n=50)
    assert not compute_stats(seq, ctx)


def test_fragments_of_two_units_merge_back_into_two_sequences():
    from spikelab_rtsort.sequences import Sequence, merge_sequences

    ctx, frames, unit = _context(n_spikes=60)
    fragments = []
    for u in (0, 1):
        for part in np.array_split(frames[unit == u], 5):
            seq = Sequence(root=0, spike_frames=part, split_electrodes={1, 2, 3, 4})
            assert compute_stats(seq, ctx)
            fragments.append(seq)
    merged = merge_sequences(fragments, ctx, same_root_only=True)
    found = sorted(sorted(s.spike_frames.tolist()) for s in merged)
    truth = sorted(sorted(frames[unit == u].tolist()) for u in (0, 1))
    assert found == truth


def test_root_moves_to_a_large_electrode_that_fires_earlier():
    from spikelab_rtsort.sequences import Sequence, relocate_root

    ctx, frames, unit = _context()
    b_frames = frames[unit == 1]
    for f in b_frames:  # unit B is as large on electrode 3, 6 frames before the root (0)
        ctx.logits[f - 6, 3], ctx.traces[f - 6, 3] = 3.0, -12.0
    seq = Sequence(root=0, spike_frames=b_frames, split_electrodes={1, 3, 4})
    assert compute_stats(seq, ctx)
    moved = relocate_root(seq, ctx)
    assert moved.root == 3
    np.testing.assert_array_equal(moved.spike_frames, b_frames - 6)
    assert moved.latencies[0] == 6
    # unit A reaches its other electrodes only after the root and at half its size: it stays
    seq_a = Sequence(root=0, spike_frames=frames[unit == 0], split_electrodes={1, 2, 4})
    assert compute_stats(seq_a, ctx)
    assert relocate_root(seq_a, ctx) is seq_a
