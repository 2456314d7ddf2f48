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
    # 1,020 channels at 20 kHz hold ~0.35 GB a second; half of 32 GB is ~46 s of them
    window = detection_window(None, 1020, 20000.0, 600.0, available_bytes=32 * GB)
    assert 44.0 <= window <= 48.0


def test_a_window_the_user_set_that_does_not_fit_is_refused_with_one_that_would():
    with pytest.raises(HostMemoryError) as info:
        detection_window(300.0, 1020, 20000.0, 600.0, available_bytes=32 * GB)
    message = str(info.value)
    assert "rt_sort_detection_window_s=300" in message and "46 s or less" in message


def test_too_little_memory_for_any_useful_window_fails_before_work():
    with pytest.raises(HostMemoryError, match="not even 30 s fit"):
        detection_window(None, 1020, 20000.0, 600.0, available_bytes=8 * GB)
