"""compute_waveform_metrics on recordings with known waveforms."""

from __future__ import annotations

import numpy as np
import pytest

from spikelab import SpikeData
from spikelab.spikedata import MissingWaveformDataError, SpikeDataError
from spikelab.spikedata.waveforms import MAD_TO_STD, noise_levels

FS = 20000.0


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


def _known_unit(noise_uv=5.0, amplitude=100.0, n_spikes=300, seed=0):
    rng = np.random.default_rng(seed)
    n_samples = int(20 * FS)
    samples = np.sort(rng.choice(np.arange(200, n_samples - 200, 100), n_spikes, replace=False))
    gains = np.array([0.1, 0.5, 1.0, 0.4])
    waveform = spike_waveform(FS, amplitude)
    data = inject(4, n_samples, FS, [(samples, gains, waveform)], noise_uv=noise_uv, seed=seed)
    train = samples / FS * 1000.0
    sd = SpikeData([train], length=n_samples / FS * 1000.0, raw_data=data, raw_time=FS / 1000.0,
                   metadata={"fs_Hz": FS, "raw_data_filtered": True})
    return sd, waveform, gains


def test_snr_is_peak_over_mad_noise_on_the_primary_channel():
    sd, waveform, _ = _known_unit()
    out, metrics = sd.compute_waveform_metrics()
    unit = out.neuron_attributes[0]
    assert unit["channel"] == 2
    assert unit["template"].shape == (4, 60)
    assert unit["avg_waveform"].shape == (60,)
    np.testing.assert_allclose(unit["avg_waveform"], waveform, atol=2.0)
    assert metrics["snr"][0] == pytest.approx(100.0 / 5.0, rel=0.05)
    # Consistent waveforms: the spread at the peak is the noise alone.
    assert metrics["std_norm"][0] == pytest.approx(5.0 / 100.0, rel=0.15)


def test_compute_waveform_metrics_leaves_the_input_unchanged():
    sd, _, _ = _known_unit()
    out, _ = sd.compute_waveform_metrics()
    assert "snr" not in sd.neuron_attributes[0] and out.neuron_attributes[0]["snr"] > 0


def test_units_without_usable_spikes_get_zero_snr_and_infinite_std_norm():
    sd, _, _ = _known_unit()
    sd = SpikeData(sd.train + [[], [0.01]], length=sd.length, raw_data=sd.raw_data, raw_time=sd.raw_time,
                   metadata=sd.metadata)
    _, metrics = sd.compute_waveform_metrics()
    assert metrics["snr"][1:].tolist() == [0.0, 0.0]
    assert np.isinf(metrics["std_norm"][1:]).all()


def test_raw_data_covering_part_of_the_recording_uses_the_spikes_it_covers():
    sd, _, _ = _known_unit()
    half = sd.raw_data.shape[1] // 2
    snippet = SpikeData(sd.train, length=sd.length, raw_data=sd.raw_data[:, :half], raw_time=sd.raw_time[:half],
                        metadata=sd.metadata)
    out, metrics = snippet.compute_waveform_metrics()
    used = out.neuron_attributes[0]["n_waveform_spikes"]
    assert 0 < used < sd.train[0].size
    assert metrics["snr"][0] == pytest.approx(20.0, rel=0.1)


def test_bandpass_auto_filters_unfiltered_raw_data():
    sd, _, _ = _known_unit()
    offset = SpikeData(sd.train, length=sd.length, raw_data=sd.raw_data + 500.0, raw_time=sd.raw_time,
                       metadata={"fs_Hz": FS})
    _, filtered = offset.compute_waveform_metrics()
    _, unfiltered = offset.compute_waveform_metrics(bandpass=None)
    assert unfiltered["snr"][0] > 50  # the 500 µV offset inflates the unfiltered peak
    assert 5 < filtered["snr"][0] < 25


def test_max_spikes_per_unit_and_seed_make_results_reproducible():
    sd, _, _ = _known_unit()
    a = sd.compute_waveform_metrics(max_spikes_per_unit=50, seed=1)[1]["snr"]
    b = sd.compute_waveform_metrics(max_spikes_per_unit=50, seed=1)[1]["snr"]
    c = sd.compute_waveform_metrics(max_spikes_per_unit=50, seed=2)[1]["snr"]
    assert a[0] == b[0] and a[0] != c[0]


def test_missing_raw_data_raises_with_the_fix():
    with pytest.raises(MissingWaveformDataError, match="raw_data"):
        SpikeData([[1.0]]).compute_waveform_metrics()


def test_noise_levels_are_robust_to_spikes():
    rng = np.random.default_rng(0)
    data = rng.normal(0, 4.0, (2, 400_000)).astype(np.float32)
    data[:, ::500] = -300.0
    np.testing.assert_allclose(noise_levels(data), 4.0, rtol=0.03)
    assert MAD_TO_STD == pytest.approx(0.6745, abs=1e-4)


def test_snippet_raw_data_with_gaps_uses_the_recording_noise_and_is_not_filtered():
    sd, _, _ = _known_unit()
    keep = np.zeros(sd.raw_data.shape[1], dtype=bool)
    for t in sd.train[0][::2]:  # windows around every other spike, as the pipeline keeps them
        centre = int(round(t * FS / 1000))
        keep[centre - 40 : centre + 80] = True
    snippets = SpikeData(sd.train, length=sd.length, raw_data=sd.raw_data[:, keep], raw_time=sd.raw_time[keep],
                         metadata={"fs_Hz": FS, "raw_data_filtered": True, "noise_levels_uv": np.full(4, 5.0)})
    out, metrics = snippets.compute_waveform_metrics()
    assert out.neuron_attributes[0]["n_waveform_spikes"] == sd.train[0][::2].size
    assert metrics["snr"][0] == pytest.approx(20.0, rel=0.15)
    with pytest.raises(SpikeDataError, match="snippets"):
        snippets.compute_waveform_metrics(bandpass=(300.0, 6000.0))
