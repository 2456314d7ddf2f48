"""The curate_by_* functions, curate() and the curation history."""

from __future__ import annotations

import json

import numpy as np
import pytest

from spikelab import SpikeData
from spikelab.spikedata import MissingWaveformDataError, SpikeDataError, UnknownCriterionError


def _regular(n_spikes, isi_ms, n_violations=0, length=None):
    """A regular train with ``n_violations`` extra spikes 0.5 ms after existing ones."""
    train = np.arange(n_spikes - n_violations) * isi_ms + 1.0
    extra = train[:n_violations] + 0.5
    return np.sort(np.concatenate([train, extra]))


@pytest.fixture
def four_units():
    trains = [_regular(200, 10.0), _regular(200, 10.0, n_violations=4), _regular(20, 50.0), []]
    return SpikeData(trains, length=10_000.0, neuron_attributes=[{"unit_id": u} for u in (7, 8, 9, 10)])


def test_min_spikes_and_firing_rate_report_every_unit(four_units):
    sd, res = four_units.curate_by_min_spikes(min_spikes=50)
    assert res["metric"].tolist() == [200, 200, 20, 0]
    assert res["passed"].tolist() == [True, True, False, False]
    assert sd.unit_ids.tolist() == [7, 8]
    sd, res = four_units.curate_by_firing_rate(min_rate_hz=1.0)
    np.testing.assert_allclose(res["metric"], [20.0, 20.0, 2.0, 0.0])
    assert sd.N == 4 - 1


def test_isi_max_is_a_percentage(four_units):
    # Unit 8 has 4 violations in 200 spikes: 2 %.
    _, res = four_units.curate_by_isi_violations(max_violation=1.0, threshold_ms=1.5)
    np.testing.assert_allclose(res["metric"], [0.0, 2.0, 0.0, 0.0])
    assert res["passed"].tolist() == [True, False, True, True]
    _, res = four_units.curate_by_isi_violations(max_violation=5.0)
    assert res["passed"].all()


def test_isi_exactly_at_threshold_is_not_a_violation():
    fs = 20000.0
    samples = np.array([0, 30, 59, 200])  # ISIs of 1.5 ms (= threshold) and 1.45 ms
    sd = SpikeData([samples / fs * 1000.0], length=100.0)
    _, res = sd.curate_by_isi_violations(max_violation=100.0, threshold_ms=1.5)
    assert res["metric"][0] == pytest.approx(100.0 / 4)


def test_units_with_zero_or_one_spike_do_not_crash():
    sd = SpikeData([[], [5.0], [1.0, 1.2]], length=1000.0)
    _, res = sd.curate_by_isi_violations(max_violation=1.0)
    assert res["metric"].tolist() == [0.0, 0.0, 50.0]
    _, res = sd.curate_by_isi_violations(max_violation=1.0, method="hill")
    assert res["metric"][:2].tolist() == [0.0, 0.0] and res["metric"][2] > 0
    _, res = sd.curate_by_firing_rate(min_rate_hz=0.5)
    assert res["passed"].tolist() == [False, True, True]


def test_curate_applies_only_given_criteria_over_all_original_units(four_units):
    sd, results = four_units.curate(min_spikes=50, min_rate_hz=None, isi_max=1.0)
    assert list(results) == ["spike_count", "isi_violation"]
    for res in results.values():
        assert res["metric"].shape == (4,) and res["passed"].shape == (4,)
    assert sd.unit_ids.tolist() == [7]
    removed = {name: int((~res["passed"]).sum()) for name, res in results.items()}
    assert removed == {"spike_count": 2, "isi_violation": 1}


def test_curate_with_no_criteria_keeps_everything(four_units):
    sd, results = four_units.curate()
    assert results == {} and sd.N == 4


def test_unknown_criterion_lists_the_known_ones(four_units):
    with pytest.raises(UnknownCriterionError, match="min_snr") as info:
        four_units.curate(min_spikez=3)
    assert "min_spikez" in str(info.value)


def test_negative_threshold_is_rejected(four_units):
    with pytest.raises(SpikeDataError, match="min_spikes must be a number >= 0"):
        four_units.curate(min_spikes=-1)


def test_snr_without_raw_data_says_how_to_fix(four_units):
    with pytest.raises(MissingWaveformDataError) as info:
        four_units.curate_by_snr(min_snr=5.0)
    assert "compute_waveform_metrics" in str(info.value) and "raw_data" in str(info.value)
    with pytest.raises(MissingWaveformDataError):
        four_units.curate(min_snr=5.0)


def test_precomputed_waveform_metrics_are_used_without_raw_data():
    attrs = [{"snr": 3.0, "std_norm": 0.2}, {"snr": 8.0, "std_norm": 1.5}]
    sd = SpikeData([[1.0], [2.0]], length=10.0, neuron_attributes=attrs)
    kept, res = sd.curate_by_snr(min_snr=5.0)
    assert res["passed"].tolist() == [False, True] and kept.N == 1
    _, res = sd.curate_by_std_norm(max_std_norm=1.0)
    assert res["passed"].tolist() == [True, False]
    kept, results = sd.curate(min_snr=5.0, max_std_norm=1.0)
    assert kept.N == 0 and list(results) == ["snr", "std_norm"]


def test_curation_history_is_json_and_names_removed_units(four_units):
    sd_curated, results = four_units.curate(min_spikes=50, isi_max=1.0)
    history = SpikeData.build_curation_history(
        sd_original=four_units, sd_curated=sd_curated, results=results, parameters={"min_spikes": 50}
    )
    restored = json.loads(json.dumps(history, allow_nan=False))
    assert restored["initial"] == [7, 8, 9, 10]
    assert restored["curations"] == ["spike_count", "isi_violation"]
    assert restored["failed"]["spike_count"] == [9, 10]
    assert restored["failed"]["isi_violation"] == [8]
    assert restored["metrics"]["isi_violation"]["8"] == pytest.approx(2.0)
    assert restored["curated_final"] == [7]


def test_curation_history_stores_infinite_metric_as_null():
    sd = SpikeData([[1.0], []], length=10.0, neuron_attributes=[{"std_norm": 0.1}, {"std_norm": np.inf}])
    kept, res = sd.curate_by_std_norm(max_std_norm=1.0)
    history = sd.build_curation_history(sd, kept, {"std_norm": res})
    assert json.loads(json.dumps(history, allow_nan=False))["metrics"]["std_norm"] == {"0": 0.1, "1": None}


def test_curation_history_rejects_results_of_another_spikedata(four_units):
    sub, res = four_units.curate_by_min_spikes(min_spikes=50)
    with pytest.raises(SpikeDataError, match="sd_original"):
        SpikeData.build_curation_history(sub, sub, {"spike_count": res})
