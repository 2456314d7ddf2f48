"""Shared synthetic stim recordings (small, so the whole suite stays fast)."""

import matplotlib
import numpy as np
import pytest

from spikelab.testing import kit_plugins
from spikelab_stim.synthetic import make_stim_recording

pytest_plugins = kit_plugins()  # the test kit is opt-in

matplotlib.use("Agg")

FS = 20000.0


@pytest.fixture(scope="session")
def biphasic():
    """Anodic-first biphasic pulses that saturate the channels near the stimulating electrode."""
    return make_stim_recording(n_channels=16, duration_s=3.0, n_events=30, seed=11, jitter_ms=2.0)


@pytest.fixture(scope="session")
def offset_recording():
    """Like ``biphasic`` but every channel carries a DC offset of up to 400 uV."""
    return make_stim_recording(n_channels=16, duration_s=3.0, n_events=30, seed=12, dc_offset_uV=400.0)


def ms_to_samples(ms):
    return np.round(np.asarray(ms) * FS / 1000.0).astype(int)
