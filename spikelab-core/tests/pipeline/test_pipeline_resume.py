"""A run killed at any point and started again finishes with the same result."""

from __future__ import annotations

import numpy as np
import psutil
import pytest
from pipeline_helpers import inline_kwargs, start_child_sort, wait_for

from spikelab.demo import write_demo_recording
from spikelab.spike_sorting import cache, run_recordings, sort_recording


def sorters_in(folder) -> list[psutil.Process]:
    job = str(folder / "sorter_output" / ".spikelab_child_job.pkl")
    return [p for p in psutil.process_iter(["cmdline"]) if job in (p.info.get("cmdline") or [])]


@pytest.fixture(scope="module")
def longer_file(tmp_path_factory):
    folder = tmp_path_factory.mktemp("resume")
    path, _ = write_demo_recording(folder / "long.raw.h5", duration_s=10.0, num_channels=16, num_units=6, seed=9)
    reference = sort_recording([path], **inline_kwargs(), intermediate_folders=[folder / "ref_i"],
                               results_folders=[folder / "ref_r"])
    return path, reference[0]


def _in_preprocess(inter):
    folder = inter / "recording"
    return lambda: folder.is_dir() and any(folder.iterdir()) and not (folder / cache.MARKER).exists()


def _in_sort(inter):
    return lambda: (inter / "sorter_output" / "fake.log").is_file()


def _after_sort(inter):
    return lambda: (inter / "sorter_output" / cache.MARKER).is_file()


@pytest.mark.parametrize(
    ("when", "reused"),
    [(_in_preprocess, []), (_in_sort, ["preprocess"]), (_after_sort, ["preprocess", "sort"])],
    ids=["during-preprocess", "during-sort", "after-sort"],
)
def test_killed_run_restarts_and_finishes_correctly(longer_file, tmp_path, when, reused):
    path, reference = longer_file
    inter, results = tmp_path / "inter", tmp_path / "results"
    child = start_child_sort(path, inter, results, sorter="fake", n_jobs=1, progress_bar=False,
                             prevent_system_sleep=False)
    try:
        wait_for(when(inter), child)
    finally:
        # SIGKILL the pipeline process only, as a crash or the OOM killer would: a sorter it
        # started (in its own session) is left running as an orphan.
        child.kill()
        child.wait(30)
    assert not (results / "sorted_spikedata_curated.pkl").exists() or reused == ["preprocess", "sort"]
    out = run_recordings([path], **inline_kwargs(), intermediate_folders=[inter], results_folders=[results])
    sds = out[0].spike_data
    assert out[0].status == "success"
    assert not sorters_in(inter), "an orphaned sorter from the killed run is still running"
    assert out[0].cached_stages[: len(reused)] == reused
    assert "sort" in out[0].cached_stages or "sort" not in reused
    assert sds[0].N == reference.N
    for mine, theirs in zip(sds[0].train, reference.train):
        assert np.array_equal(mine, theirs)
