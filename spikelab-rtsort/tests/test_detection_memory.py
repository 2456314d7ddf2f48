"""Sequence detection holds its whole window in memory: the window is fitted to the machine, or refused early."""

from __future__ import annotations

import pytest

from spikelab.plugin import HostMemoryError
from spikelab_rtsort.runner import detection_window

GB = 10**9


def test_a_recording_that_fits_is_detected_on_all_of_it():
    assert detection_window(None, 64, 20000.0, 600.0, available_bytes=32 * GB) is None
    assert detection_window(120.0, 64, 20000.0, 600.0, available_bytes=16 * GB) == 120.0


def test_a_whole_array_default_window_is_shortened_to_what_fits():
    # float16 windows: 1,020 channels at 20 kHz hold ~0.1 GB a second; half of 16 GB is ~78 s
    window = detection_window(None, 1020, 20000.0, 600.0, available_bytes=16 * GB)
    assert 74.0 <= window <= 80.0
    # a float32 window costs nearly twice as much, so about half of it fits
    narrow = detection_window(None, 1020, 20000.0, 600.0, available_bytes=16 * GB, float16=False)
    assert 0.5 * window <= narrow <= 0.6 * window


def test_a_window_the_user_set_that_does_not_fit_is_refused_with_one_that_would():
    with pytest.raises(HostMemoryError) as info:
        detection_window(300.0, 1020, 20000.0, 600.0, available_bytes=16 * GB)
    message = str(info.value)
    assert "rt_sort_detection_window_s=300" in message and "78 s or less" in message


def test_too_little_memory_for_any_useful_window_fails_before_work():
    with pytest.raises(HostMemoryError, match="not even 30 s fit"):
        detection_window(None, 1020, 20000.0, 600.0, available_bytes=5 * GB)


def test_noise_taken_a_block_of_channels_at_a_time_is_the_whole_window_median(monkeypatch):
    import numpy as np

    import spikelab_rtsort.sequences as sequences

    traces = np.random.default_rng(5).standard_t(3, size=(3001, 37)).astype(np.float32)
    expected = np.maximum(np.median(np.abs(traces), axis=0) / np.float32(0.6745), np.float32(1e-3))
    monkeypatch.setattr(sequences, "NOISE_BLOCK_BYTES", 3001 * 4 * 5)  # 5 channels a block
    noise = sequences.robust_noise(traces)
    assert noise.dtype == np.float32 and np.array_equal(noise, expected)
    half = sequences.robust_noise(traces.astype(np.float16))
    np.testing.assert_allclose(half, expected, rtol=2e-3)


def test_the_detection_window_is_released_before_the_rest_is_sorted(monkeypatch):
    import gc
    import weakref

    from spikelab_rtsort._paths import default_model_path
    from spikelab_rtsort.model import load_detection_model
    from spikelab_rtsort.rtsort import RTSort
    from spikelab_rtsort.synthetic import generate_mea_recording

    recording, _ = generate_mea_recording(duration_s=20.0, num_units=8, seed=777)
    windows, alive_while_sorting = [], []
    detect, sort_offline = RTSort._detect.__func__, RTSort.sort_offline

    def remembered(cls, *args, **kwargs):
        rts, ctx = detect(cls, *args, **kwargs)
        windows.append(weakref.ref(ctx))
        return rts, ctx

    def watched(self, *args, **kwargs):
        gc.collect()
        alive_while_sorting.append(windows[-1]() is not None)
        return sort_offline(self, *args, **kwargs)

    monkeypatch.setattr(RTSort, "_detect", classmethod(remembered))
    monkeypatch.setattr(RTSort, "sort_offline", watched)
    rts, trains = RTSort.detect_and_sort(recording, load_detection_model(default_model_path("mea")),
                                         detection_window_s=12.0)
    # the window's logits and traces (GBs on a whole array) were freed before the rest was sorted
    assert alive_while_sorting == [False]
    assert len(trains) == rts.num_units > 0


def test_the_default_sort_block_fits_its_budget_on_a_whole_array():
    from spikelab_rtsort.rtsort import SORT_BLOCK_BYTES, SORT_BYTES_PER_CHANNEL_FRAME, sort_block_seconds

    # a 10 s block of 1,020 channels held 4.1 GB, more than detection on a 30 s window
    whole = sort_block_seconds(1020, 20000.0)
    assert 2.0 <= whole <= 2.5
    assert whole * 1020 * 20000.0 * SORT_BYTES_PER_CHANNEL_FRAME <= SORT_BLOCK_BYTES
    assert sort_block_seconds(64, 20000.0) == 10.0


def test_short_sort_blocks_read_little_at_a_time_and_sort_the_same_spikes(monkeypatch):
    import numpy as np

    import spikelab_rtsort.rtsort as rtsort_module
    from spikelab_rtsort._paths import default_model_path
    from spikelab_rtsort.model import load_detection_model
    from spikelab_rtsort.rtsort import RTSort
    from spikelab_rtsort.synthetic import generate_mea_recording

    recording, _ = generate_mea_recording(duration_s=20.0, num_units=8, seed=778)
    rts = RTSort.detect_sequences(recording, load_detection_model(default_model_path("mea")))
    long_blocks = rts.sort_offline(recording, block_duration_s=10.0, return_spikeinterface_sorter=False)

    reads, read = [], rtsort_module.read_microvolts
    monkeypatch.setattr(rtsort_module, "read_microvolts",
                        lambda rec, start, end: reads.append(end - start) or read(rec, start, end))
    fs, channels = recording.get_sampling_frequency(), recording.get_num_channels()
    # a budget of 1.5 s of this recording: the default block follows it
    monkeypatch.setattr(rtsort_module, "SORT_BLOCK_BYTES", int(1.5 * fs * channels * 20))
    short_blocks = rts.sort_offline(recording, return_spikeinterface_sorter=False)
    assert len(reads) >= 13 and max(reads) < 1.6 * fs
    total = sum(len(t) for t in long_blocks)
    same = sum(len(np.intersect1d(a, b)) for a, b in zip(long_blocks, short_blocks, strict=True))
    assert total > 100 and same >= 0.99 * total
    assert abs(sum(len(t) for t in short_blocks) - total) <= 0.01 * total
    for bad in (0.0, -1.0, float("nan")):  # refused at once, not a loop of one-frame blocks
        with pytest.raises(ValueError, match="block_duration_s"):
            rts.sort_offline(recording, block_duration_s=bad)
