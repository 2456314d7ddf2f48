"""sort_stim_recording with a deterministic stand-in for a fitted RT-Sort object."""

import numpy as np
import pytest
from spikeinterface.core import NumpyRecording, NumpySorting

from spikelab import SpikeData
from spikelab_stim import OfflineSorter, SpikeSliceStack, sort_stim_recording
from spikelab_stim.synthetic import make_stim_recording


class ThresholdSorter:
    """Stand-in for a fitted RT-Sort: one unit per channel, spikes at troughs below -threshold.

    Only the boundary is faked (no detection network); it has RT-Sort's ``sort_offline``
    signature and returns a SpikeInterface sorting on the recording's frames.
    """

    def __init__(self, threshold_uV=35.0):
        self.threshold = threshold_uV
        self.seen = None

    def sort_offline(self, recording, return_spikeinterface_sorter=True):
        self.seen = recording
        traces = recording.get_traces().T
        fs = recording.get_sampling_frequency()
        units = {}
        for c, x in enumerate(traces):
            x = x - np.median(x)
            below = x < -self.threshold
            starts = np.flatnonzero(below[1:] & ~below[:-1]) + 1
            troughs = [s + int(np.argmin(x[s : s + int(fs / 1000)])) for s in starts]
            units[c] = np.asarray(troughs, dtype=np.int64)
        sorting = NumpySorting.from_unit_dict(units, fs)
        return sorting if return_spikeinterface_sorter else [units[c] for c in sorted(units)]


class ListSorter(ThresholdSorter):
    def sort_offline(self, recording):  # no return_spikeinterface_sorter: returns per-unit frames
        return super().sort_offline(recording, return_spikeinterface_sorter=False)


@pytest.fixture(scope="module")
def evoked():
    return make_stim_recording(n_channels=8, duration_s=3.0, n_events=20, seed=51, jitter_ms=1.0,
                               spike_amplitude_uV=(80.0, 150.0), evoked_probability=0.7,
                               spontaneous_rate_hz=0.5)


def test_stand_in_satisfies_the_protocol():
    assert isinstance(ThresholdSorter(), OfflineSorter)


def test_evoked_spikes_land_at_their_latency_in_each_slice(evoked):
    slices, sd = sort_stim_recording(evoked.traces, ThresholdSorter(), evoked.logged_stim_times_ms, 5.0, 15.0,
                                     fs_Hz=evoked.fs_Hz, peak_mode="abs_max")
    assert isinstance(slices, SpikeSliceStack) and isinstance(sd, SpikeData)
    assert slices.n_events == 20 and slices.n_units == 8 and sd.N == 8
    found = 0
    for t, c in zip(evoked.spike_times_ms[evoked.spike_evoked], evoked.spike_channels[evoked.spike_evoked]):
        event = int(np.argmin(np.abs(evoked.stim_times_ms - t + 5.0)))
        rel = t - slices.stim_times_ms[event]
        found += np.any(np.abs(slices.trains[event][c] - rel) < 0.15)
    assert found >= 0.9 * evoked.spike_evoked.sum()
    # Every slice time lies in the window, and the SpikeData holds the same spikes on the recording clock.
    for event, t in zip(slices.trains, slices.stim_times_ms):
        for unit, train in enumerate(event):
            assert np.all((train >= -5.0) & (train < 15.0))
            np.testing.assert_allclose(train + t, sd.train[unit][(sd.train[unit] >= t - 5) & (sd.train[unit] < t + 15)])


def test_without_artifact_removal_the_artifact_would_be_sorted_as_spikes(evoked):
    raw = ThresholdSorter().sort_offline(NumpyRecording(evoked.traces.T.copy(), evoked.fs_Hz))
    slices, _ = sort_stim_recording(evoked.traces, ThresholdSorter(), evoked.logged_stim_times_ms, 5.0, 15.0,
                                    fs_Hz=evoked.fs_Hz)
    raw_counts = sum(raw.get_unit_spike_train(u).size for u in raw.unit_ids)
    assert raw_counts > slices.spike_counts().sum() + 2 * 20  # artifacts alone give spikes on every pulse


def test_sorter_sees_the_lazy_cleaned_recording(evoked):
    sorter = ThresholdSorter()
    sort_stim_recording(evoked.traces, sorter, evoked.logged_stim_times_ms, 5.0, 15.0, fs_Hz=evoked.fs_Hz)
    assert type(sorter.seen).__name__ == "StimArtifactRemovedRecording"


def test_list_output_and_recording_input(evoked):
    recording = NumpyRecording(evoked.traces.T.copy(), evoked.fs_Hz)
    a, _ = sort_stim_recording(recording, ListSorter(), evoked.logged_stim_times_ms, 5.0, 15.0)
    b, _ = sort_stim_recording(evoked.traces, ThresholdSorter(), evoked.logged_stim_times_ms, 5.0, 15.0,
                               fs_Hz=evoked.fs_Hz)
    np.testing.assert_array_equal(a.spike_counts(), b.spike_counts())


def test_events_whose_window_leaves_the_recording_are_dropped(evoked):
    slices, sd = sort_stim_recording(evoked.traces, ThresholdSorter(), evoked.logged_stim_times_ms, 100.0, 15.0,
                                     fs_Hz=evoked.fs_Hz, recenter=False)
    assert 0 not in slices.event_indices.tolist()  # the first event is < 100 ms from the start
    assert slices.n_events < 20


def test_recording_window_restricts_sorting(evoked):
    slices, sd = sort_stim_recording(evoked.traces, ThresholdSorter(), evoked.logged_stim_times_ms, 5.0, 15.0,
                                     fs_Hz=evoked.fs_Hz, recording_window_ms=(1000.0, 2000.0))
    assert np.all((slices.stim_times_ms >= 1005.0) & (slices.stim_times_ms <= 1985.0))
    assert all(t.size == 0 or (t.min() >= 1000.0 and t.max() < 2000.0) for t in sd.train)


def test_multi_peak_options_are_accepted(evoked):
    slices, _ = sort_stim_recording(evoked.traces, ThresholdSorter(), evoked.logged_stim_times_ms, 5.0, 15.0,
                                    fs_Hz=evoked.fs_Hz, peak_mode="down_edge", multi_peak=True,
                                    multi_peak_select="first", multi_peak_threshold=0.6,
                                    multi_peak_min_separation_ms=2.0, max_offset_ms=5.0)
    np.testing.assert_allclose(slices.stim_times_ms, evoked.stim_times_ms + 0.2, atol=0.06)


def test_bad_inputs_are_named(evoked, tmp_path):
    with pytest.raises(ValueError, match="fs_Hz"):
        sort_stim_recording(evoked.traces, ThresholdSorter(), evoked.stim_times_ms, 5.0, 15.0)
    with pytest.raises(TypeError, match="rt_sort.*sort_offline"):
        sort_stim_recording(evoked.traces, object(), evoked.stim_times_ms, 5.0, 15.0, fs_Hz=evoked.fs_Hz)
    with pytest.raises(TypeError, match="stim_recording.*path"):
        sort_stim_recording(str(tmp_path / "x.raw.h5"), ThresholdSorter(), evoked.stim_times_ms, 5.0, 15.0)
    with pytest.raises(ValueError, match="post_ms"):
        sort_stim_recording(evoked.traces, ThresholdSorter(), evoked.stim_times_ms, 5.0, 0.0, fs_Hz=evoked.fs_Hz)
    with pytest.raises(ValueError, match="recording_window_ms"):
        sort_stim_recording(evoked.traces, ThresholdSorter(), evoked.stim_times_ms, 5.0, 15.0, fs_Hz=evoked.fs_Hz,
                            recording_window_ms=(2000.0, 1000.0))
    with pytest.raises(ValueError, match="No stimulation"):
        sort_stim_recording(evoked.traces, ThresholdSorter(), evoked.stim_times_ms, 5000.0, 15.0, fs_Hz=evoked.fs_Hz)
    with pytest.raises(ValueError, match="fs_Hz.*disagrees"):
        sort_stim_recording(NumpyRecording(evoked.traces.T.copy(), evoked.fs_Hz), ThresholdSorter(),
                            evoked.stim_times_ms, 5.0, 15.0, fs_Hz=30000.0)
    with pytest.raises(ValueError, match="model"):
        sort_stim_recording(evoked.traces, tmp_path / "rt_sort.pickle", evoked.stim_times_ms, 5.0, 15.0,
                            fs_Hz=evoked.fs_Hz)
