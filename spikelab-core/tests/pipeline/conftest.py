"""Fixtures for the pipeline tests: Maxwell files with ground truth, fast configs."""

from __future__ import annotations

import pytest


@pytest.fixture
def maxwell_file(tmp_path):
    """A legacy Maxwell file with planted units: ``(path, ground-truth sorting)``."""
    from spikelab.demo import write_demo_recording

    return write_demo_recording(tmp_path / "data" / "session1.raw.h5", duration_s=8.0, num_channels=16, seed=1)


@pytest.fixture
def small_file(tmp_path):
    """A short, small legacy Maxwell file (4 s, 8 channels) and its ground truth."""
    from spikelab.demo import write_demo_recording

    return write_demo_recording(tmp_path / "data" / "small.raw.h5", duration_s=4.0, num_channels=8, num_units=4, seed=2)
