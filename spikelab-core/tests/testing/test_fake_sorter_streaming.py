"""The fake sorter reads its recording in chunks and finds the same spikes as a whole-trace pass."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
from scipy.signal import sosfiltfilt

from spikelab.testing import fake_backend
from spikelab.testing.recordings import tiny_recording


def whole_trace_detection(recording, threshold):
    """The fake sorter's detection done in one pass over the whole trace (the reference)."""
    fs = recording.get_sampling_frequency()
    filtered = sosfiltfilt(fake_backend._bandpass(fs), recording.get_traces().astype(np.float64), axis=0)
    noise = np.median(np.abs(filtered), axis=0) / 0.6745
    scaled = filtered / noise
    best_channel = np.argmin(scaled, axis=1)
    best_value = scaled[np.arange(len(scaled)), best_channel]
    keep: list[int] = []
    for sample in np.flatnonzero(best_value < -threshold):
        if keep and sample - keep[-1] < int(fs / 1000):
            if best_value[sample] < best_value[keep[-1]]:
                keep[-1] = sample
            continue
        keep.append(sample)
    return np.asarray(keep), best_channel[keep]


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    recording, _ = tiny_recording(seed=3, duration_s=4.5, num_channels=8, num_units=4, firing_rate_hz=10.0)
    return recording.save(folder=tmp_path_factory.mktemp("fake") / "rec", verbose=False)


def test_chunked_detection_finds_the_whole_trace_spikes(saved):
    samples, channels = fake_backend._detect(saved, 5.5)
    expected_samples, expected_channels = whole_trace_detection(saved, 5.5)
    assert len(expected_samples) > 20
    np.testing.assert_array_equal(samples, expected_samples)
    np.testing.assert_array_equal(channels, expected_channels)


def test_noise_from_chunk_medians_keeps_nearly_every_spike(saved, monkeypatch):
    # As on a recording too large for the exact noise: the median of evenly spaced chunks' medians.
    monkeypatch.setattr(fake_backend, "EXACT_NOISE_BYTES", 0)
    monkeypatch.setattr(fake_backend, "NOISE_CHUNKS", 3)
    samples, _ = fake_backend._detect(saved, 5.5)
    expected, _ = whole_trace_detection(saved, 5.5)
    common = np.intersect1d(samples, expected)
    assert len(common) >= 0.9 * max(len(samples), len(expected))


def test_sorter_reads_the_recording_a_chunk_at_a_time(saved, tmp_path, monkeypatch):
    spans = []
    original = type(saved).get_traces

    def spy(self, *args, start_frame=None, end_frame=None, **kwargs):
        first = 0 if start_frame is None else start_frame
        last = self.get_num_samples() if end_frame is None else end_frame
        spans.append(last - first)
        return original(self, *args, start_frame=start_frame, end_frame=end_frame, **kwargs)

    monkeypatch.setattr(type(saved), "get_traces", spy)
    job = SimpleNamespace(recording_folder=saved._kwargs["folder_path"], sorter_folder=tmp_path / "out",
                          params=dict(fake_backend.DEFAULT_PARAMS))
    fake_backend.run(job)
    fs = saved.get_sampling_frequency()
    assert spans and max(spans) <= int(fake_backend.CHUNK_S * fs) + 2 * int(fake_backend.MARGIN_S * fs)
    assert max(spans) < saved.get_num_samples()
    assert len(np.load(tmp_path / "out" / "spike_times.npy")) > 0


def test_sorter_logs_progress_through_its_detection_pass(saved, capsys):
    """A long pass keeps the sorter's log moving, so the inactivity watchdog does not stop it."""
    fake_backend._detect(saved, 5.5)
    progress = [line for line in capsys.readouterr().out.splitlines() if "chunks" in line]
    n_chunks = int(np.ceil(saved.get_num_samples() / (fake_backend.CHUNK_S * saved.get_sampling_frequency())))
    assert len(progress) >= min(n_chunks, fake_backend.PROGRESS_LINES)
    assert progress[-1].endswith(f"100%| {n_chunks}/{n_chunks} chunks")
