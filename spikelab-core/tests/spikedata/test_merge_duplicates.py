"""curate_by_merge_duplicates on duplicated and distinct units."""

from __future__ import annotations

import numpy as np
import pytest

from spikelab import SpikeData
from spikelab.spikedata import MissingWaveformDataError
from spikelab.spikedata.merge import lagged_cosine

FS = 20000.0
LOCATIONS = np.array([[0.0, 0.0], [17.5, 0.0], [200.0, 0.0], [217.5, 0.0]])


def spike_waveform(fs, amplitude=100.0, ms=3.0):
    """A negative biphasic spike, peak (−amplitude) one third into the window."""
    t = np.arange(int(ms * fs / 1000)) / fs * 1000 - ms / 3
    return -amplitude * np.exp(-(t / 0.15) ** 2) + 0.3 * amplitude * np.exp(-((t - 0.5) / 0.3) ** 2)


def _templates(primary, lag=0):
    waveform = np.roll(spike_waveform(FS), lag)
    gains = np.exp(-np.linalg.norm(LOCATIONS - LOCATIONS[primary], axis=1) / 20.0)
    return np.outer(gains, waveform)


def _pipeline_like(trains, primaries, lags, sources=None):
    """What the sorting pipeline attaches: unit_id, channel, x, y, template, avg_waveform; no raw_data.

    ``sources`` is the electrode each unit's neuron sits on (default: its primary channel).
    """
    attrs = []
    sources = primaries if sources is None else sources
    for unit, (ch, lag, source) in enumerate(zip(primaries, lags, sources)):
        template = _templates(source, lag)
        attrs.append({"unit_id": 100 + unit, "channel": ch, "x": LOCATIONS[ch, 0], "y": LOCATIONS[ch, 1],
                      "template": template, "avg_waveform": template[ch]})
    return SpikeData(trains, length=60_000.0, neuron_attributes=attrs,
                     metadata={"fs_Hz": FS, "channel_locations": LOCATIONS})


def _poisson(rate_hz, rng, refractory_ms=3.0):
    isi = rng.exponential(1000.0 / rate_hz, int(rate_hz * 70)) + refractory_ms
    t = np.cumsum(isi)
    return t[t < 59_000.0]


def test_duplicate_on_the_neighbouring_electrode_is_absorbed():
    rng = np.random.default_rng(0)
    neuron = _poisson(8.0, rng)
    # The duplicate (placed on electrode 1) sees 70 % of the same neuron's spikes, 2 samples
    # (0.1 ms) earlier, so its template is the neuron's, delayed by 2 samples.
    duplicate = neuron[rng.random(neuron.size) < 0.7] - 2 * 1000.0 / FS
    other = _poisson(5.0, rng)
    sd = _pipeline_like([neuron, duplicate, other], primaries=[0, 1, 2], lags=[0, 2, 0], sources=[0, 0, 2])

    merged, res = sd.curate_by_merge_duplicates(dist_um=24.8, cosine_threshold=0.5, max_isi_increase=0.04)

    assert res["passed"].tolist() == [True, False, True]
    assert res["merged_into"].tolist() == [-1, 0, -1]
    assert res["metric"][0] == res["metric"][1] > 0.9
    assert merged.unit_ids.tolist() == [100, 102]
    assert merged.neuron_attributes[0]["merged_from"] == [101]
    assert merged.neuron_attributes[0]["n_duplicates_removed"] == duplicate.size
    np.testing.assert_allclose(merged.train[0], neuron)  # every duplicate spike was recognised


def test_far_apart_or_dissimilar_units_are_not_merged():
    rng = np.random.default_rng(1)
    a, b = _poisson(5.0, rng), _poisson(5.0, rng)
    far = _pipeline_like([a, b], primaries=[0, 2], lags=[0, 0])
    _, res = far.curate_by_merge_duplicates(dist_um=24.8)
    assert res["passed"].all()
    near = _pipeline_like([a, b], primaries=[0, 1], lags=[0, 0])
    near.neuron_attributes[1]["template"] = -near.neuron_attributes[1]["template"]
    _, res = near.curate_by_merge_duplicates(dist_um=24.8, cosine_threshold=0.5)
    assert res["passed"].all()


def test_merge_refused_when_isi_violations_would_rise_too_much():
    rng = np.random.default_rng(2)
    a, b = _poisson(40.0, rng, refractory_ms=2.0), _poisson(40.0, rng, refractory_ms=2.0)
    sd = _pipeline_like([a, b], primaries=[0, 1], lags=[0, 0])
    _, res = sd.curate_by_merge_duplicates(dist_um=24.8, max_isi_increase=0.01, min_coincidence=0.0)
    assert res["passed"].all()
    _, res = sd.curate_by_merge_duplicates(dist_um=24.8, max_isi_increase=0.5, min_coincidence=0.0)
    assert not res["passed"].all()


def test_neighbouring_neurons_with_alike_waveforms_are_not_merged_unless_they_share_spikes():
    rng = np.random.default_rng(3)
    a, b = _poisson(10.0, rng), _poisson(10.0, rng)
    sd = _pipeline_like([a, b], primaries=[0, 1], lags=[0, 0], sources=[0, 0])
    _, res = sd.curate_by_merge_duplicates(dist_um=24.8)
    assert res["passed"].all()
    _, res = sd.curate_by_merge_duplicates(dist_um=24.8, min_coincidence=0.0)
    assert res["passed"].tolist() == [True, False] or res["passed"].tolist() == [False, True]


def test_merge_needs_waveforms_or_raw_data():
    sd = SpikeData([[1.0], [2.0]], length=10.0, neuron_attributes=[{"x": 0, "y": 0}, {"x": 1, "y": 0}])
    with pytest.raises(MissingWaveformDataError, match="compute_waveform_metrics"):
        sd.curate_by_merge_duplicates()


def test_units_straight_from_a_sorter_with_raw_traces_are_merged():
    """A SpikeData built from a sorter's output (spike trains only, no channel or position per
    unit) with the traces attached: merging computes the waveforms and finds the positions."""
    rng = np.random.default_rng(3)
    neuron, other = _poisson(8.0, rng), _poisson(5.0, rng)
    duplicate = neuron[rng.random(neuron.size) < 0.7]
    n_samples = int(60_000.0 * FS / 1000)
    traces = rng.normal(0.0, 5.0, (len(LOCATIONS), n_samples))
    for train, source in ((neuron, 0), (other, 2)):
        template = _templates(source)
        for start in (train * FS / 1000).astype(int) - template.shape[1] // 3:
            if 0 <= start and start + template.shape[1] <= n_samples:
                traces[:, start:start + template.shape[1]] += template
    sd = SpikeData([neuron, duplicate, other], length=60_000.0, raw_data=traces, raw_time=FS / 1000,
                   neuron_attributes=[{"unit_id": u} for u in (7, 8, 9)],
                   metadata={"fs_Hz": FS, "channel_locations": LOCATIONS, "raw_data_filtered": True})

    merged, res = sd.curate_by_merge_duplicates(dist_um=24.8)

    assert res["passed"].tolist() == [True, False, True]
    assert merged.unit_ids.tolist() == [7, 9]


def test_lagged_cosine_finds_the_shift():
    a = _templates(0)
    similarity, lag = lagged_cosine(a, np.roll(a, 3, axis=1), max_lag=10)
    assert lag == 3 and similarity > 0.99
    assert lagged_cosine(a, np.roll(a, 10, axis=1), max_lag=10)[0] == 0.0
