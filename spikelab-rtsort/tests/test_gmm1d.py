import numpy as np

from spikelab_rtsort.gmm1d import best_mixture_labels


def test_two_distinct_latency_groups_are_split():
    rng = np.random.default_rng(0)
    values = np.concatenate([rng.integers(-1, 2, 80), rng.integers(5, 8, 60)])
    labels = best_mixture_labels(values, 4, min_var=0.25)
    assert labels is not None
    assert len(set(labels[:80])) == 1 and len(set(labels[80:])) == 1
    assert labels[0] != labels[-1]


def test_one_frame_jitter_is_not_split():
    values = np.array([0] * 50 + [1] * 45 + [-1] * 5)
    assert best_mixture_labels(values, 4, min_var=0.25) is None
