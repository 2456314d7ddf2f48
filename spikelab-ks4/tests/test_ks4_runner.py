"""The runner on a real Kilosort4 CPU run (the session's reference sort) and the reader."""

from __future__ import annotations

import json

import pytest

from spikelab.errors import InputError
from spikelab_ks4 import read_sorting


def test_reference_sort_finds_ground_truth_units(reference_sort, ground_truth):
    from spikeinterface.comparison import compare_sorter_to_ground_truth

    _, gt_sorting = ground_truth
    sorting = read_sorting(reference_sort)
    comparison = compare_sorter_to_ground_truth(gt_sorting, sorting, exhaustive_gt=True)
    well_detected = comparison.count_well_detected_units(0.8)
    assert well_detected >= gt_sorting.get_num_units() // 2, comparison.get_performance()


def test_log_holds_kilosorts_progress_once_per_line(reference_sort):
    text = (reference_sort / "kilosort4.log").read_text()
    assert text.count("Kilosort version 4.1.") == 1
    assert "N batches: 5" in text
    assert "units found with good refractory periods" in text
    # Kilosort's own, more detailed log stays in its results folder
    assert "DEBUG" in (reference_sort / "sorter_output" / "kilosort4.log").read_text()


def test_run_record_keeps_settings_device_and_versions(reference_sort):
    record = json.loads((reference_sort / "spikelab_run.json").read_text())
    assert record["device"] == "cpu"
    assert record["settings"]["nblocks"] == 0 and record["settings"]["n_chan_bin"] == 32
    assert record["versions"]["kilosort"].startswith("4.1.")
    assert record["binary_file"].endswith("traces_cached_seg0.raw")


def test_keep_good_only_reads_only_good_units(reference_sort):
    everything = read_sorting(reference_sort, keep_good_only=False)
    good = read_sorting(reference_sort, keep_good_only=True)
    assert set(good.get_unit_ids()) <= set(everything.get_unit_ids())
    assert set(good.get_property("KSLabel")) <= {"good"}


def test_spikedata_carries_kilosort_units_in_ms(reference_sort, ground_truth):
    import spikeinterface as si

    from spikelab_ks4.reader import read_spikedata

    recording_folder, _ = ground_truth
    sorting = read_sorting(reference_sort)
    spike_data = read_spikedata(reference_sort, recording=si.load(recording_folder))
    assert spike_data.N == sorting.get_num_units()
    assert spike_data.length == pytest.approx(10_000.0)  # ms
    first = sorting.get_unit_spike_train(sorting.get_unit_ids()[0])
    assert spike_data.train[0] == pytest.approx(first / 30.0)  # samples at 30 kHz -> ms


def test_reading_an_unfinished_sort_points_at_the_log(tmp_path):
    (tmp_path / "sorter_output").mkdir()
    with pytest.raises(InputError, match="kilosort4.log"):
        read_sorting(tmp_path)


def test_unknown_parameter_fails_before_kilosort_starts(ground_truth, tmp_path):
    from ks4_helpers import make_job

    from spikelab.errors import UnknownParameterError

    folder, _ = ground_truth
    with pytest.raises(UnknownParameterError, match="Did you mean 'Th_universal'"):  # when built
        make_job(folder, tmp_path / "sorter", sorter_params={"Th_univresal": 8})
    assert not (tmp_path / "sorter").exists()
