"""The benchmarks' ground-truth generator and the accuracy part's curation check."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest

BENCH = Path(__file__).resolve().parents[1] / "bench"


def _module(path: Path, name: str):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def groundtruth():
    return _module(BENCH / "groundtruth.py", "bench_groundtruth")


TINY_MEA = {"layout": "mea", "sampling_frequency": 20000.0, "noise_uV": 6.0, "refractory_period_ms": 4.0,
            "pitch_um": 17.5, "alpha": [60.0, 300.0], "z_um": [5.0, 30.0],
            "num_channels": 16, "duration_s": 2.0, "num_units": 3, "firing_rate": 10.0, "seed": 3}


def test_mea_preset_is_a_dense_20khz_grid_in_microvolts_and_is_cached(groundtruth, tmp_path):
    recording, gt, info = groundtruth.load("tiny", data_dir=tmp_path, params=TINY_MEA)
    assert not info["cached"]
    assert recording.get_sampling_frequency() == 20000.0
    assert recording.get_num_channels() == 16 and gt.get_num_units() == 3
    xy = recording.get_channel_locations()
    assert sorted(np.unique(xy[:, 0]) - xy[:, 0].min()) == pytest.approx([0.0, 17.5, 35.0, 52.5])
    assert recording.has_scaleable_traces()
    # Noise far from spikes is the preset's 6 µV; spikes make the trace larger but not the median.
    mad = np.median(np.abs(recording.get_traces(end_frame=20000, return_in_uV=True)), axis=0) / 0.6745
    assert np.median(mad) == pytest.approx(6.0, rel=0.15)
    assert 5.0 < info["stats"]["trough_uV_min_median_max"][1] < 400.0

    again, gt_again, info_again = groundtruth.load("tiny", data_dir=tmp_path, params=TINY_MEA)
    assert info_again["cached"] and info_again["folder"] == info["folder"]
    assert np.array_equal(again.get_traces(end_frame=500), recording.get_traces(end_frame=500))
    assert np.array_equal(gt_again.get_unit_spike_train(gt.unit_ids[0]), gt.get_unit_spike_train(gt.unit_ids[0]))


def test_changed_parameters_get_their_own_cache_folder(groundtruth, tmp_path):
    other = {**TINY_MEA, "seed": 4}
    assert groundtruth.folder("tiny", TINY_MEA, tmp_path) != groundtruth.folder("tiny", other, tmp_path)
    assert groundtruth.folder("tiny", TINY_MEA, tmp_path) == groundtruth.folder("tiny", dict(TINY_MEA), tmp_path)


def test_mea_layout_rejects_a_non_square_channel_count(groundtruth, tmp_path):
    with pytest.raises(ValueError, match="square channel count"):
        groundtruth.load("bad", data_dir=tmp_path, params={**TINY_MEA, "num_channels": 20})
    with pytest.raises(KeyError, match="known"):
        groundtruth.load("no-such-preset", data_dir=tmp_path)


def _run(before_well, after_well, before_prec, after_prec):
    return {"ok": True, "dataset": "d", "sorter": "s",
            "before": {"well_detected": before_well, "unit_precision": before_prec},
            "after": {"well_detected": after_well, "unit_precision": after_prec}}


def test_curation_check_flags_lost_units_and_lowered_precision():
    report = _module(BENCH / "accuracy" / "_report.py", "bench_accuracy_report")
    assert report.checks([_run(16, 15, 0.8, 1.0)])["all_ok"]          # 1 of 16 lost: within 10 %
    assert not report.checks([_run(16, 14, 0.8, 1.0)])["all_ok"]      # 2 of 16 lost
    assert not report.checks([_run(16, 16, 0.9, 0.8)])["all_ok"]      # precision went down


def test_the_demo_records_the_benchmarks_mea_quick(groundtruth):
    """The demo says its recording is mea-quick, the data set auto's grid row cites: it must be."""
    from spikelab.demo import DEMO_RECORDING

    preset = groundtruth.PRESETS["mea-quick"]
    assert DEMO_RECORDING == {"duration_s": preset["duration_s"], "num_channels": preset["num_channels"],
                              "num_units": preset["num_units"], "firing_rate_hz": preset["firing_rate"],
                              "noise_level_uv": preset["noise_uV"], "seed": preset["seed"]}
    assert (preset["pitch_um"], preset["alpha"], preset["z_um"], preset["sampling_frequency"]) == (
        17.5, [60.0, 300.0], [5.0, 30.0], 20000.0)  # grid_recording's defaults, which the demo uses
