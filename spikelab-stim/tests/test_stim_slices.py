"""SpikeSliceStack: cutting, counts, PSTH, raster, SpikeData export and plots."""

import numpy as np
import pytest

from spikelab import SpikeData
from spikelab_stim import SpikeSliceStack


@pytest.fixture
def stack():
    trains = [np.array([5.0, 12.0, 51.0, 98.0, 103.0]), np.array([11.5, 52.0, 150.0])]
    return SpikeSliceStack.from_spike_trains(trains, [10.0, 50.0, 100.0, 195.0], pre_ms=2.0, post_ms=5.0,
                                             recording_end_ms=198.0, unit_ids=[7, 9])


def test_slices_hold_relative_times_and_drop_events_leaving_the_recording(stack):
    assert stack.n_events == 3 and len(stack) == 3  # 195 + 5 > 198: dropped
    assert stack.event_indices.tolist() == [0, 1, 2]
    np.testing.assert_allclose(stack.trains[0][0], [2.0])
    np.testing.assert_allclose(stack.trains[0][1], [1.5])
    np.testing.assert_allclose(stack.trains[1][0], [1.0])
    np.testing.assert_allclose(stack.trains[2][0], [-2.0, 3.0])
    assert stack.trains[2][1].size == 0


def test_counts_psth_and_raster(stack):
    np.testing.assert_array_equal(stack.spike_counts(), [[1, 1], [1, 1], [2, 0]])
    np.testing.assert_array_equal(stack.spike_counts(0.0, 5.0), [[1, 1], [1, 1], [1, 0]])
    edges, rate = stack.psth(bin_ms=1.0)
    assert edges[0] == -2.0 and edges[-1] == 5.0 and rate.shape == (2, 7)
    # unit 7: spikes at -2, 1, 2, 3 (ms) over 3 events, 1 ms bins -> 333.3 Hz in those bins
    np.testing.assert_allclose(rate[0][[0, 3, 4, 5]], 1000.0 / 3)
    times, rows = stack.raster(0)
    np.testing.assert_allclose(times, [2.0, 1.0, -2.0, 3.0])
    np.testing.assert_array_equal(rows, [0, 1, 2, 2])
    with pytest.raises(IndexError):
        stack.raster(5)
    with pytest.raises(ValueError, match="bin_ms"):
        stack.psth(bin_ms=0)


def test_export_to_spikedata_per_event(stack):
    sds = stack.to_spikedata_list()
    assert len(sds) == 3 and all(isinstance(sd, SpikeData) for sd in sds)
    assert sds[2].start_time == -2.0 and sds[2].length == 7.0
    np.testing.assert_allclose(sds[2].train[0], [-2.0, 3.0])
    assert sds[0].neuron_attributes[1]["unit_id"] == 9 and sds[1].metadata["stim_time_ms"] == 50.0


def test_plots_draw_on_given_axes(stack):
    import matplotlib.pyplot as plt

    fig, (a, b) = plt.subplots(1, 2)
    assert stack.plot_raster(0, ax=a) is a
    assert stack.plot_psth(bin_ms=1.0, ax=b) is b
    assert len(a.collections) == 1 and len(b.lines) >= 2
    plt.close(fig)


def test_inconsistent_construction_is_rejected():
    with pytest.raises(ValueError, match="one entry per event"):
        SpikeSliceStack(trains=[[np.zeros(0)]], stim_times_ms=[1.0, 2.0], pre_ms=1, post_ms=1, unit_ids=[0],
                        event_indices=[0, 1])
    with pytest.raises(ValueError, match="pre_ms"):
        SpikeSliceStack.from_spike_trains([np.zeros(0)], [1.0], pre_ms=-1.0, post_ms=1.0)
