"""Builders shared by the SpikeData tests (known waveforms injected into noise)."""

from __future__ import annotations

import numpy as np


def inject(n_channels, n_samples, fs, units, noise_uv=5.0, seed=0):
    """Noise plus known waveforms: ``units`` is a list of (spike_samples, channel_gains, waveform)."""
    rng = np.random.default_rng(seed)
    data = rng.normal(0.0, noise_uv, (n_channels, n_samples)).astype(np.float32)
    for samples, gains, waveform in units:
        half = len(waveform) // 3
        for s in samples:
            data[:, s - half : s - half + len(waveform)] += np.outer(gains, waveform).astype(np.float32)
    return data


def spike_waveform(fs, amplitude=100.0, ms=3.0):
    """A negative biphasic spike, peak (−amplitude) one third into the window."""
    t = np.arange(int(ms * fs / 1000)) / fs * 1000 - ms / 3
    return -amplitude * np.exp(-(t / 0.15) ** 2) + 0.3 * amplitude * np.exp(-((t - 0.5) / 0.3) ** 2)
