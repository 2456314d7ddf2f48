"""Fixtures of the waveform tests: a recording whose templates, noise and spikes are known exactly."""

from __future__ import annotations

import numpy as np
import pytest

FS = 20000.0
N_CHANNELS = 8
WIDTH = 60  # 1 ms before + 2 ms after at 20 kHz
NBEFORE = 20


def known_waveforms() -> dict[int, np.ndarray]:
    """Unit id -> (channels, WIDTH) waveform in µV: unit 7 peaks -100 µV on channel 2, unit 9 +60 µV on 6."""
    t = np.arange(WIDTH) - NBEFORE
    shape = -np.exp(-0.5 * (t / 3.0) ** 2) + 0.3 * np.exp(-0.5 * ((t - 12) / 6.0) ** 2)
    a = np.zeros((N_CHANNELS, WIDTH))
    a[2], a[1], a[3] = 100 * shape, 40 * shape, 30 * shape
    b = np.zeros((N_CHANNELS, WIDTH))
    b[6], b[7] = -60 * shape, -20 * shape
    return {7: a, 9: b}


def make_known(duration_s: float = 20.0, noise_uv: float = 5.0, seed: int = 0, scale_per_second=None):
    """``(recording, sorting, waveforms)``: the waveforms added at random times to Gaussian noise.

    ``scale_per_second`` (callable of the spike time in s) multiplies the waveform, to make
    templates change over time.
    """
    from spikeinterface.core import NumpyRecording, NumpySorting

    rng = np.random.default_rng(seed)
    n = int(duration_s * FS)
    traces = rng.normal(0, noise_uv, size=(n, N_CHANNELS)).astype(np.float32)
    waveforms = known_waveforms()
    frames, labels = [], []
    for k, (uid, waveform) in enumerate(waveforms.items()):
        # interleaved grids (units 150 samples apart) so no two spikes overlap
        times = np.sort(rng.choice(np.arange(100 + 150 * k, n - 200, 300), size=int(8 * duration_s), replace=False))
        for f in times:
            scale = scale_per_second(f / FS) if scale_per_second else 1.0
            traces[f - NBEFORE : f - NBEFORE + WIDTH] += (scale * waveform.T).astype(np.float32)
        frames.append(times)
        labels.append(np.full(times.size, uid))
    recording = NumpyRecording([traces], sampling_frequency=FS)
    locations = np.column_stack([np.zeros(N_CHANNELS), 20.0 * np.arange(N_CHANNELS)])
    recording.set_dummy_probe_from_locations(locations)
    recording.annotate(is_filtered=True)  # the waveforms are the truth: no band-pass on top
    frames_all, labels_all = np.concatenate(frames), np.concatenate(labels)
    order = np.argsort(frames_all)
    sorting = NumpySorting.from_samples_and_labels([frames_all[order]], [labels_all[order]], FS)
    return recording, sorting, waveforms



@pytest.fixture(scope="module")
def known():
    """``(recording, sorting, waveforms)`` with two units of known templates in 5 µV noise."""
    return make_known()


@pytest.fixture(name="make_known")
def make_known_fixture():
    """:func:`make_known` itself, for tests that need another duration or scaling."""
    return make_known
