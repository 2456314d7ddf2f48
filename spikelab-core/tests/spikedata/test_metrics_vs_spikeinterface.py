"""Curation metrics agree with SpikeInterface's quality metrics on a ground-truth recording."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from spikelab.spikedata.metrics import isi_violation_counts


@pytest.fixture(scope="module")
def si_metrics(ground_truth):
    import spikeinterface.core as sc
    import spikeinterface.preprocessing as spre
    from spikeinterface.metrics.quality import compute_quality_metrics

    recording, sorting = ground_truth
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        filtered = spre.bandpass_filter(recording, freq_min=300.0, freq_max=6000.0)
        analyzer = sc.create_sorting_analyzer(sorting, filtered, format="memory", sparse=False)
        analyzer.compute(["random_spikes", "templates", "noise_levels"])
        table = compute_quality_metrics(analyzer, metric_names=["firing_rate", "isi_violation", "snr"])
    return table.loc[list(sorting.get_unit_ids())]


def test_firing_rate_identical(gt_spikedata, si_metrics):
    _, result = gt_spikedata.curate_by_firing_rate(min_rate_hz=0.0)
    np.testing.assert_allclose(result["metric"], si_metrics["firing_rate"].to_numpy(), rtol=1e-12)


def test_isi_violation_count_and_ratio_identical(gt_spikedata, si_metrics):
    counts = isi_violation_counts(gt_spikedata, threshold_ms=1.5)
    assert counts.sum() > 0, "the ground truth should contain some violations for this test to bite"
    np.testing.assert_array_equal(counts, si_metrics["isi_violations_count"].to_numpy())
    _, hill = gt_spikedata.curate_by_isi_violations(max_violation=1e9, method="hill")
    np.testing.assert_allclose(hill["metric"], si_metrics["isi_violations_ratio"].to_numpy(), rtol=1e-12)
    _, percent = gt_spikedata.curate_by_isi_violations(max_violation=100.0)
    np.testing.assert_allclose(percent["metric"], 100.0 * counts / gt_spikedata.spike_counts)


def test_snr_within_ten_percent_of_spikeinterface(gt_spikedata, si_metrics):
    _, metrics = gt_spikedata.compute_waveform_metrics()
    expected = si_metrics["snr"].to_numpy()
    relative = np.abs(metrics["snr"] - expected) / expected
    assert np.all(relative < 0.10), f"relative SNR differences {np.round(relative, 3)}"
