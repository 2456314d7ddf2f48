import pytest
import torch

from spikelab.testing import kit_plugins
from spikelab_rtsort._paths import DEFAULT_MEA_MODEL_PATH
from spikelab_rtsort.model import load_detection_model
from spikelab_rtsort.synthetic import channel_labels, generate_mea_recording

pytest_plugins = kit_plugins()  # the test kit is opt-in

torch.set_num_threads(1)

# Seeds 0..6 generated the shipped model's training and validation data; tests use others.
HELD_OUT_SEED = 4242


@pytest.fixture(scope="session")
def shipped_model():
    return load_detection_model(DEFAULT_MEA_MODEL_PATH)


@pytest.fixture(scope="session")
def held_out_recording():
    """20 s, 64 channels, 8 well separated units, never seen in training."""
    recording, sorting = generate_mea_recording(duration_s=20.0, num_units=8,
                                                seed=HELD_OUT_SEED, noise_level=5.0)
    return recording, sorting


@pytest.fixture(scope="session")
def held_out_labels(held_out_recording):
    recording, sorting = held_out_recording
    return channel_labels(recording, sorting, noise_level=5.0)


@pytest.fixture(scope="session")
def rt_sort(shipped_model, held_out_recording):
    from spikelab_rtsort.rtsort import RTSort

    recording, _ = held_out_recording
    return RTSort.detect_sequences(recording, shipped_model, detection_window_s=10.0)
