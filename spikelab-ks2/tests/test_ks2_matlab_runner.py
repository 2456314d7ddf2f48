"""The MATLAB route against a fake ``matlab`` on PATH (the only fake): inputs, log, output, failures."""

from __future__ import annotations

import json
import os
import pickle
import signal
import subprocess
import sys
import time
from pathlib import Path

import ks2_fake_matlab
import numpy as np
import pytest

from spikelab.spike_sorting import _exceptions as ex
from spikelab_ks2 import plugin


def _truth_counts(ground_truth) -> dict:
    sorting = ground_truth["sorting"]
    return {unit: len(sorting.get_unit_spike_train(unit)) for unit in sorting.unit_ids}


def test_int16_recording_is_sorted_in_place_and_units_match_ground_truth(
    ground_truth, fake_matlab, kilosort_tree, make_job
):
    job = make_job(ground_truth["int16_folder"], kilosort_path=str(kilosort_tree))
    plugin.run(job)

    folder = job.sorter_folder
    assert not (folder / "recording.dat").exists(), "an int16 binary must be read in place, not copied"
    ops = ks2_fake_matlab.parse_config(folder / "kilosort2_config.m")
    assert Path(ops["fbinary"]).parent == Path(ground_truth["int16_folder"]).resolve()
    sorting = plugin.read_sorting(folder)
    truth = _truth_counts(ground_truth)
    assert sorting.get_num_units() == len(truth)
    assert sorting.get_sampling_frequency() == ground_truth["recording"].get_sampling_frequency()
    counts = sorted(len(sorting.get_unit_spike_train(u)) for u in sorting.unit_ids)
    assert counts == sorted(truth.values())
    log_text = (folder / "kilosort2.log").read_text()
    assert "found 0 bad channels" in log_text and "Saving results to Phy" in log_text
    assert not (folder / "temp_wh.dat").exists(), "the whitened copy is deleted after success"
    assert fake_matlab()[0]["argv"][0] == "-batch"


def test_float_recording_is_copied_to_scaled_int16(ground_truth, fake_matlab, kilosort_tree, make_job):
    job = make_job(ground_truth["float_folder"], kilosort_path=str(kilosort_tree))
    plugin.run(job)

    dat = job.sorter_folder / "recording.dat"
    gain = json.loads((job.sorter_folder / "recording_dat.json").read_text())["gain_to_int16"]
    recording = ground_truth["recording"]
    written = np.memmap(dat, dtype=np.int16, mode="r").reshape(-1, recording.get_num_channels())
    original = recording.get_traces(start_frame=0, end_frame=2000)
    assert written.shape[0] == recording.get_num_samples()
    np.testing.assert_allclose(written[:2000], np.round(original * gain), atol=1)
    assert np.std(written[:20000]) > 5, "noise must span several int16 steps, not round to zero"


def test_unsigned_counts_are_shifted_exactly(ground_truth, fake_matlab, kilosort_tree, make_job, tmp_path):
    import spikeinterface as si
    import spikeinterface.preprocessing as spre

    int16 = si.load(ground_truth["int16_folder"])
    counts = spre.scale(int16, gain=1.0, offset=2048.0, dtype="uint16")  # a 12-bit ADC's counts
    folder = tmp_path / "uint16"
    counts.save(folder=folder, format="binary", n_jobs=1, progress_bar=False)
    job = make_job(folder, kilosort_path=str(kilosort_tree))
    plugin.run(job)

    written = np.memmap(job.sorter_folder / "recording.dat", dtype=np.int16, mode="r").reshape(-1, 16)
    original = counts.get_traces(start_frame=0, end_frame=5000).astype(np.int64)
    np.testing.assert_array_equal(written[:5000], original - 32768)
    assert plugin.read_sorting(job.sorter_folder).get_num_units() == ground_truth["sorting"].get_num_units()


def test_config_carries_the_pipeline_parameters(ground_truth, fake_matlab, kilosort_tree, make_job):
    job = make_job(
        ground_truth["int16_folder"],
        kilosort_path=str(kilosort_tree),
        NT=40010,
        projection_threshold=[9, 3],
        detect_threshold=5,
        minFR=0.02,
        car=False,
    )
    plugin.run(job)

    ops = ks2_fake_matlab.parse_config(job.sorter_folder / "kilosort2_config.m")
    assert ops["NT"] == 40000  # rounded down to a multiple of 32
    assert ops["Th"] == [9.0, 3.0]
    assert ops["spkTh"] == -5.0
    assert ops["minFR"] == 0.02
    assert ops["CAR"] == 0.0
    assert ops["NchanTOT"] == 16 and ops["fs"] == 20000.0
    assert ops["trange"] == [0.0, float("inf")]


def test_old_matlab_runs_with_r_flag(ground_truth, fake_matlab, kilosort_tree, make_job):
    job = make_job(ground_truth["int16_folder"], kilosort_path=str(kilosort_tree), matlab_mode="r")
    plugin.run(job)
    argv = fake_matlab()[0]["argv"]
    assert argv[:3] == ["-nodisplay", "-nosplash", "-r"]
    assert "exit(1)" in argv[3] and "exit(0)" in argv[3]
    assert plugin.read_sorting(job.sorter_folder).get_num_units() == 6


def test_keep_good_only_drops_units_kilosort2_labels_mua(ground_truth, fake_matlab, kilosort_tree, make_job):
    job = make_job(ground_truth["int16_folder"], kilosort_path=str(kilosort_tree), keep_good_only=True)
    plugin.run(job)
    labels = (job.sorter_folder / "cluster_KSLabel.tsv").read_text().split()
    n_good = labels.count("good")
    assert 0 < n_good < ground_truth["sorting"].get_num_units()
    assert plugin.read_sorting(job.sorter_folder).get_num_units() == n_good


def test_unrecognised_failure_raises_with_the_log_tail(
    ground_truth, fake_matlab, kilosort_tree, make_job, monkeypatch
):
    monkeypatch.setenv("SPIKELAB_FAKE_KS2_MODE", "unknown_error")
    job = make_job(ground_truth["int16_folder"], kilosort_path=str(kilosort_tree))
    with pytest.raises(ex.SorterProcessError) as caught:
        plugin.run(job)
    error = caught.value
    assert error.exit_code == 1
    assert "Reference to non-existent field 'Wphy'" in str(error)
    assert error.log_path == str(job.sorter_folder / "kilosort2.log")
    assert "-" * 40 in error.traceback_text
    clone = pickle.loads(pickle.dumps(error))
    assert clone.traceback_text == error.traceback_text


def test_exit_zero_without_phy_files_is_a_failure(ground_truth, fake_matlab, kilosort_tree, make_job, monkeypatch):
    monkeypatch.setenv("SPIKELAB_FAKE_KS2_MODE", "silent_exit")
    job = make_job(ground_truth["int16_folder"], kilosort_path=str(kilosort_tree))
    with pytest.raises(ex.SorterProcessError, match="did not write spike_times.npy"):
        plugin.run(job)


@pytest.mark.parametrize(
    ("mode", "expected", "status"),
    [
        ("gpu_oom", ex.GPUOutOfMemoryError, "oom_gpu"),
        ("host_oom", ex.HostMemoryError, "oom_memoryerror"),
        ("disk", ex.DiskExhaustionError, "disk_exhausted"),
        ("mex", ex.SorterDependencyError, "environment"),
        ("no_good_channels", ex.NoGoodChannelsError, "not_sortable"),
        ("few_spikes", ex.InsufficientActivityError, "not_sortable"),
        ("cuda_fault", ex.ResourceSortFailure, "failed"),
    ],
)
def test_failures_are_raised_classified(
    ground_truth, fake_matlab, kilosort_tree, make_job, monkeypatch, mode, expected, status
):
    monkeypatch.setenv("SPIKELAB_FAKE_KS2_MODE", mode)
    job = make_job(ground_truth["int16_folder"], kilosort_path=str(kilosort_tree))
    with pytest.raises(expected) as caught:
        plugin.run(job)
    error = caught.value
    assert error.status == status
    assert error.sorter == "kilosort2" and error.matched_line
    assert isinstance(error.__cause__, ex.SorterProcessError), "the process error stays chained"
    if mode == "no_good_channels":
        assert (error.total_channels, error.bad_channels) == (16, 16)
    if mode == "few_spikes":
        assert (error.threshold_crossings, error.units_at_failure, error.nspks_at_failure) == (312, 2, 3.0)
    if mode == "disk":
        assert error.folder == str(job.sorter_folder.resolve()) and error.free_gb_at_trip > 0


def test_missing_matlab_stops_before_any_work(ground_truth, kilosort_tree, make_job, monkeypatch, tmp_path):
    empty = tmp_path / "empty_bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    job = make_job(ground_truth["float_folder"], kilosort_path=str(kilosort_tree))
    with pytest.raises(ex.SorterDependencyError, match="MATLAB executable 'matlab' was not found on PATH"):
        plugin.run(job)
    assert not (job.sorter_folder / "recording.dat").exists()
    assert not (job.sorter_folder / "chanMap.mat").exists()


def test_sigterm_stops_matlab(ground_truth, fake_matlab, kilosort_tree, make_job, monkeypatch, tmp_path):
    monkeypatch.setenv("SPIKELAB_FAKE_KS2_MODE", "hang")
    job = make_job(ground_truth["int16_folder"], kilosort_path=str(kilosort_tree))
    job_file = tmp_path / "job.pkl"
    job_file.write_bytes(pickle.dumps(job))
    code = "import pickle, sys; from spikelab_ks2 import plugin; plugin.run(pickle.load(open(sys.argv[1], 'rb')))"
    runner = subprocess.Popen([sys.executable, "-c", code, str(job_file)])
    log = job.sorter_folder / "kilosort2.log"
    deadline = time.monotonic() + 120
    while "Optimizing templates" not in (log.read_text() if log.exists() else ""):
        assert runner.poll() is None and time.monotonic() < deadline, "the fake never reached the hang"
        time.sleep(0.2)
    matlab_pid = fake_matlab()[0]["pid"]
    runner.send_signal(signal.SIGTERM)
    assert runner.wait(30) == 128 + signal.SIGTERM
    for _ in range(100):
        try:
            os.kill(matlab_pid, 0)
        except ProcessLookupError:
            break
        time.sleep(0.1)
    else:
        os.kill(matlab_pid, signal.SIGKILL)
        pytest.fail("MATLAB outlived the runner that received SIGTERM")
