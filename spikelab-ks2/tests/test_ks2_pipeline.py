"""``sort_recording(sorter="kilosort2", ...)`` end to end, with only MATLAB / Docker faked."""

from __future__ import annotations

import numpy as np
import pytest

from spikelab.spike_sorting import _exceptions as ex

api = pytest.importorskip("spikelab.spike_sorting.api", reason="core's sort_recording is not available")


def _matches_ground_truth(spikedata, ground_truth) -> None:
    """Every returned unit is one of the generated units, spike for spike."""
    sorting = ground_truth["sorting"]
    fs = sorting.get_sampling_frequency()
    truth = [np.sort(sorting.get_unit_spike_train(u)) for u in sorting.unit_ids]
    for train_ms in spikedata.train:
        samples = np.round(np.asarray(train_ms) * fs / 1000).astype(np.int64)
        assert any(len(t) == len(samples) and np.abs(t - samples).max() <= 1 for t in truth)


def test_sort_recording_with_kilosort_path(ground_truth, fake_matlab, kilosort_tree, tmp_path):
    from spikelab.spike_sorting import sort_recording

    results = sort_recording(
        [ground_truth["recording"]],
        sorter="kilosort2",
        kilosort_path=str(kilosort_tree),
        intermediate_folders=[tmp_path / "inter"],
        results_folders=[tmp_path / "results"],
        n_jobs=1,
        create_figures=False,
    )
    assert len(results) == 1
    assert results[0].N >= 1, "the generated units survive curation"
    _matches_ground_truth(results[0], ground_truth)
    assert len(fake_matlab()) == 1


def test_gpu_oom_is_retried_with_a_smaller_nt(ground_truth, fake_matlab, kilosort_tree, tmp_path, monkeypatch):
    from spikelab.spike_sorting import run_recordings

    monkeypatch.setenv("SPIKELAB_FAKE_KS2_MODE", "gpu_oom")
    monkeypatch.setenv("SPIKELAB_FAKE_KS2_OOM_ABOVE_NT", "20000")
    results = run_recordings(
        [ground_truth["recording"]],
        sorter="kilosort2",
        kilosort_path=str(kilosort_tree),
        intermediate_folders=[tmp_path / "inter"],
        results_folders=[tmp_path / "results"],
        n_jobs=1,
        create_figures=False,
    )
    assert results[0].spike_data[0].N >= 1
    attempts = results[0].attempts
    assert [a.status for a in attempts] == ["oom_gpu", "oom_gpu", "success"]
    assert [a.params.get("NT") for a in attempts] == [None, 32800, 16384]  # None: Kilosort2's 65600
    assert results[0].retries_used == 2
    logs = sorted((tmp_path / "results" / "sorter_logs").glob("attempt*_kilosort2.log"))
    assert len(logs) == 3
    assert "Out of memory on device" in logs[0].read_text()
    assert "Saving results to Phy" in logs[-1].read_text()


def test_missing_matlab_fails_in_preflight(ground_truth, kilosort_tree, tmp_path, monkeypatch):
    from spikelab.spike_sorting import sort_recording

    empty = tmp_path / "empty_bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    with pytest.raises(ex.EnvironmentSortFailure, match="MATLAB executable 'matlab' was not found"):
        sort_recording(
            [ground_truth["recording"]],
            sorter="kilosort2",
            kilosort_path=str(kilosort_tree),
            intermediate_folders=[tmp_path / "inter"],
            results_folders=[tmp_path / "results"],
        )
    assert not (tmp_path / "inter" / "sorter_output").exists(), "nothing was sorted"


def test_docker_preset_end_to_end(ground_truth, fake_docker, tmp_path):
    from spikelab.spike_sorting import sort_recording
    from spikelab.spike_sorting.config import KILOSORT2_DOCKER

    results = sort_recording(
        [ground_truth["recording"]],
        config=KILOSORT2_DOCKER.override(
            docker_client_factory="ks2_fake_docker.make_client", n_jobs=1, create_figures=False
        ),
        intermediate_folders=[tmp_path / "inter"],
        results_folders=[tmp_path / "results"],
    )
    assert results[0].N >= 1, "the generated units survive curation"
    _matches_ground_truth(results[0], ground_truth)
    assert any(call["event"] == "containers.run" for call in fake_docker())
