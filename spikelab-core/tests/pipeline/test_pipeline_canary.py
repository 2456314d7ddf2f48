"""The canary: decisive classified failures abort, others are logged, short recordings skip."""

from __future__ import annotations

import pytest
import structlog
from pipeline_helpers import inline_kwargs

from spikelab.spike_sorting import run_recordings, sort_recording
from spikelab.spike_sorting._exceptions import InsufficientActivityError


def _events(events, name):
    return [e for e in events if e["event"] == name]


def test_a_classified_canary_failure_aborts_before_the_full_sort(small_file, tmp_path):
    path, _ = small_file
    with pytest.raises(InsufficientActivityError) as info:
        sort_recording(
            [path], **inline_kwargs(fake_behaviour="no_spikes", canary_first_n_s=1.0),
            intermediate_folders=[tmp_path / "i"], results_folders=[tmp_path / "r"],
        )
    results = info.value.results
    assert info.value.stage == "canary"
    assert results[0].status == "not_sortable"
    assert "sort" not in results[0].stage_times_s  # the full sort never started
    assert not (tmp_path / "i" / "sorter_output").exists()
    assert not (tmp_path / "i" / "_canary").exists()


def test_a_resource_failure_in_the_canary_is_logged_and_the_sort_proceeds(small_file):
    path, _ = small_file
    with structlog.testing.capture_logs() as events:
        results = run_recordings(
            [path], **inline_kwargs(fake_behaviour="gpu_oom", fake_oom_above_batch=40000, canary_first_n_s=1.0),
        )
    assert len(results[0].spike_data) == 1 and results[0].status == "success"
    assert _events(events, "canary_failure_ignored")
    assert [a.status for a in results[0].attempts] == ["oom_gpu", "success"]


def test_a_passing_canary_then_the_full_sort(small_file):
    path, _ = small_file
    with structlog.testing.capture_logs() as events:
        sds = sort_recording([path], **inline_kwargs(canary_first_n_s=2.0))
    assert len(sds) == 1
    assert _events(events, "canary_passed")[0]["units"] > 0


def test_recordings_shorter_than_the_window_skip_the_canary(small_file):
    path, _ = small_file
    with structlog.testing.capture_logs() as events:
        with pytest.raises(InsufficientActivityError) as info:
            sort_recording([path], **inline_kwargs(fake_behaviour="no_spikes", canary_first_n_s=30.0))
    assert _events(events, "canary_skipped")
    assert info.value.stage == "sort"


def test_the_canary_is_not_run_when_the_full_sort_is_cached(small_file, tmp_path):
    """Finding 10: the canary ran (127 s with Kilosort4) even when the full sort was cached."""
    path, _ = small_file
    kwargs = dict(intermediate_folders=[tmp_path / "i"], results_folders=[tmp_path / "r"])
    results = run_recordings([path], **inline_kwargs(canary_first_n_s=1.0), **kwargs)
    assert "canary" in results[0].stage_times_s
    with structlog.testing.capture_logs() as events:
        results += run_recordings([path], **inline_kwargs(canary_first_n_s=1.0, fr_min=0.01), **kwargs)
    assert "sort" in results[1].cached_stages
    assert "canary" not in results[1].stage_times_s
    assert _events(events, "canary_skipped")[0]["reason"].startswith("the full sort is cached")
    results += run_recordings([path], **inline_kwargs(canary_first_n_s=1.0, detect_threshold=6.0), **kwargs)
    assert "canary" in results[2].stage_times_s  # a new sort: the canary runs again
