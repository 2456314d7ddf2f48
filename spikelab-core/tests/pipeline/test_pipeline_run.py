"""sort_recording end to end with the fake backend: outputs, stage logs, config, failures."""

from __future__ import annotations

import json

import numpy as np
import pytest
import structlog
from pipeline_helpers import fast_kwargs, inline_kwargs, write_silent_file

from spikelab.errors import ConfigError, InputError
from spikelab.plugins import get_plugin_manager
from spikelab.spike_sorting import run_recordings, sort_recording
from spikelab.spike_sorting._exceptions import InsufficientActivityError
from spikelab.spike_sorting.api import build_config
from spikelab.spike_sorting.config import SortingPipelineConfig

STAGES = ("load", "preflight", "lock", "preprocess", "sort", "waveforms", "curation", "report", "epochs")


def test_sorts_a_maxwell_file_into_curated_spikedata_with_reports(maxwell_file, tmp_path):
    path, truth = maxwell_file
    with structlog.testing.capture_logs() as events:
        results = run_recordings([path], **fast_kwargs())
    sds = results[0].spike_data
    assert len(sds) == 1 and len(results) == 1
    sd, result = sds[0], results[0]
    assert result.status == "success" and result.n_curated_units == sd.N
    assert sd.length == pytest.approx(8000.0)
    assert 0 < sd.N <= result.n_units
    # What curation and plotting need is attached to every unit.
    for unit in sd.neuron_attributes:
        assert {"unit_id", "channel", "x", "y", "avg_waveform", "snr"} <= set(unit)
    folder = tmp_path / "data" / "sorted_fake" / "session1"
    assert result.results_folder == str(folder)
    for name in ("recording_report.json", "sorting_report.md", "config_used.json", "sorted_spikedata_curated.pkl"):
        assert (folder / name).is_file(), name
    assert json.loads((folder / "config_used.json").read_text())["sorter"]["sorter_name"] == "fake"
    assert list((folder / "sorter_logs").iterdir()), "the sorter's log is kept with the results"
    stage_events = {e["event"]: e for e in events if e["event"].startswith("stage_")}
    for name in STAGES:
        assert f"stage_{name}" in stage_events, name
        assert stage_events[f"stage_{name}"]["duration_s"] >= 0
    assert set(result.stage_times_s) >= set(STAGES) - {"load", "preflight"}


def test_sorter_without_config_starts_from_that_backends_preset():
    config = build_config("fake", None, {"fr_min": 0.2}, get_plugin_manager())
    assert config.sorter_name == "fake"
    assert config.curation.fr_min == 0.2
    plugins = get_plugin_manager()
    assert build_config(SortingPipelineConfig().override(sorter="fake"), None, {}, plugins).sorter_name == "fake"
    with pytest.raises(ConfigError, match="contradicts"):
        build_config("fake", SortingPipelineConfig(), {}, get_plugin_manager())


def test_missing_and_corrupt_files_fail_before_any_work(tmp_path):
    with pytest.raises(InputError, match="nope.raw.h5"):
        sort_recording([tmp_path / "nope.raw.h5"], **inline_kwargs())
    bad = tmp_path / "bad.raw.h5"
    bad.write_bytes(b"not an hdf5 file at all")
    with pytest.raises(InputError, match="bad.raw.h5"):
        sort_recording([bad], **inline_kwargs())
    assert not (tmp_path / "sorted_fake").exists()
    assert not (tmp_path / "spikelab_intermediate").exists()


def test_one_failure_loses_nothing_and_is_raised_after_the_batch(small_file, tmp_path):
    good, _ = small_file
    silent = write_silent_file(tmp_path / "data" / "silent.raw.h5")
    with pytest.raises(InsufficientActivityError) as info:
        sort_recording([silent, good], **inline_kwargs())
    error = info.value
    assert error.status == "not_sortable"
    assert [r.status for r in error.results] == ["not_sortable", "success"]
    assert error.results[0].error_class == "InsufficientActivityError"
    # The good recording, sorted after the failure, is complete on disk.
    assert (tmp_path / "data" / "sorted_fake" / "small" / "sorted_spikedata_curated.pkl").is_file()
    failed_report = json.loads((tmp_path / "data" / "sorted_fake" / "silent" / "recording_report.json").read_text())
    assert failed_report["status"] == "not_sortable"

    sds = sort_recording([silent, good], **inline_kwargs(raise_on_failure=False))
    results = run_recordings([silent, good], **inline_kwargs())  # no raise_on_failure: results say it
    assert len(sds) == 1 and [r.status for r in results] == ["not_sortable", "success"]
    assert [len(r.spike_data) for r in results] == [0, 1]


def test_gpu_oom_is_retried_with_a_smaller_batch(small_file):
    path, _ = small_file
    result = run_recordings(
        [path], **fast_kwargs(fake_behaviour="gpu_oom", fake_oom_above_batch=20000, oom_retry_max=2),
    )[0]
    assert result.status == "success" and len(result.spike_data) == 1
    assert [a.params["batch_size"] for a in result.attempts] == [60000, 30000, 15000]
    assert [a.status for a in result.attempts] == ["oom_gpu", "oom_gpu", "success"]
    assert result.retries_used == 2


def test_retries_used_counts_the_retries_when_they_run_out(small_file, tmp_path):
    """Finding 10: ``retries_used`` said 0 when the OOM retries ran out after 2 retries."""
    path, _ = small_file
    result = run_recordings(
        [path], **inline_kwargs(fake_behaviour="gpu_oom", oom_retry_max=2),
        intermediate_folders=[tmp_path / "i"], results_folders=[tmp_path / "r"],
    )[0]
    assert result.status == "oom_gpu" and len(result.attempts) == 3
    assert result.retries_used == 2


def test_delete_inter_removes_only_what_the_pipeline_created(small_file, tmp_path):
    path, _ = small_file
    inter = tmp_path / "inter"
    inter.mkdir()
    (inter / "notes.txt").write_text("mine")
    sort_recording([path], **inline_kwargs(delete_inter=True), intermediate_folders=[inter],
                   results_folders=[tmp_path / "results"])
    assert sorted(p.name for p in inter.iterdir()) == ["notes.txt"]
    assert (tmp_path / "results" / "sorted_spikedata_curated.pkl").is_file()


def test_spike_times_match_the_sorters_output(small_file, tmp_path):
    path, _ = small_file
    sds = sort_recording([path], **inline_kwargs(curate=False), intermediate_folders=[tmp_path / "i"],
                         results_folders=[tmp_path / "r"])
    samples = np.load(tmp_path / "i" / "sorter_output" / "spike_times.npy")
    assert sum(len(t) for t in sds[0].train) == len(samples)


def test_a_preflight_failure_stops_the_batch_before_any_work(small_file, tmp_path):
    from spikelab.spike_sorting._exceptions import EnvironmentSortFailure

    path, _ = small_file
    with pytest.raises(EnvironmentSortFailure) as info:
        sort_recording([path], **inline_kwargs(fake_behaviour="bogus"))
    assert "fake_behaviour" in str(info.value)
    assert [r.status for r in info.value.results] == ["environment"]
    assert not (tmp_path / "data" / "spikelab_intermediate").exists()


def test_folder_lists_must_match_the_recordings(small_file, tmp_path):
    path, _ = small_file
    with pytest.raises(ValueError, match="one folder per recording"):
        sort_recording([path], **inline_kwargs(), intermediate_folders=[tmp_path / "a", tmp_path / "b"])
