"""Fixtures for the pipeline tests: Maxwell files with ground truth, fast configs."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
import _standins  # noqa: E402

STANDINS = _standins.install_missing()


def pytest_report_header(config):
    return f"pipeline stand-ins in use: {STANDINS or 'none'}"


def fast_kwargs(**extra):
    """Flat overrides that keep the fake-backend runs small and quiet."""
    kwargs = dict(sorter="fake", n_jobs=1, progress_bar=False, prevent_system_sleep=False)
    kwargs.update(extra)
    return kwargs


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


def inline_kwargs(**extra):
    """``fast_kwargs`` with the sorter run in this process (no child start-up cost)."""
    return fast_kwargs(isolation="inline", **extra)


def write_silent_file(path):
    """A legacy Maxwell file whose traces are flat: no sorter finds a spike in it."""
    import numpy as np

    from spikelab.testing.maxwell import write_legacy

    return write_legacy(path, traces=np.full((8, 40000), 512, dtype=np.uint16))
