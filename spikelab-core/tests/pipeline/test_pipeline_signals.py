"""Signals and a full disk (issue 17, finding 9)."""

from __future__ import annotations

import errno
import json
import signal

import psutil
import pytest
from pipeline_helpers import inline_kwargs, kill_group, start_child_sort, wait_for

from spikelab.spike_sorting import lock, run_recordings
from spikelab.spike_sorting._exceptions import DiskExhaustionError


def _sort(path, tmp_path, **kwargs):
    return run_recordings([path], **inline_kwargs(**kwargs), intermediate_folders=[tmp_path / "inter"],
                          results_folders=[tmp_path / "results"])[0]


def _full_disk(target):
    def write(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device", str(target))
    return write


@pytest.mark.parametrize("stage, patch", [
    ("preprocess", "spikeinterface.core.baserecording.BaseRecording.save"),
    ("curation", "spikelab.spikedata.spikedata.SpikeData.save"),
    ("lock", "spikelab.atomic.write_bytes"),
])
def test_a_full_disk_in_any_stage_is_disk_exhausted_and_the_rerun_recovers(
    small_file, tmp_path, monkeypatch, stage, patch
):
    """An ENOSPC outside the sort stage was a raw OSError with status ``failed``. (The write
    failure is injected: this machine cannot mount a small tmpfs or loop volume.)"""
    path, _ = small_file
    monkeypatch.setattr(patch, _full_disk(tmp_path / "inter" / "x"))
    result = _sort(path, tmp_path, raise_on_failure=False)
    assert result.status == "disk_exhausted"
    assert isinstance(result.error, DiskExhaustionError) and result.error.stage == stage
    assert "No space left on device" in str(result.error) and "Free space" in str(result.error)
    monkeypatch.undo()
    again = _sort(path, tmp_path)
    assert again.ok and again.n_units > 0


def test_sigterm_writes_the_report_and_releases_the_lock_like_ctrl_c(small_file, tmp_path):
    """SIGTERM killed the run without a report or lock release."""
    path, _ = small_file
    inter, results = tmp_path / "inter", tmp_path / "results"
    child = start_child_sort(
        path, inter, results, sorter="fake", fake_behaviour="hang", fake_hang_s=120.0, n_jobs=1,
        progress_bar=False, prevent_system_sleep=False, sorter_inactivity_timeout=False,
    )
    try:
        wait_for(lambda: (inter / "sorter_output" / "fake.log").exists(), child)
        child.send_signal(signal.SIGTERM)
        child.wait(60)
    finally:
        if child.poll() is None:
            kill_group(child)
    assert not (inter / lock.LOCK_NAME).exists()
    report = json.loads((results / "recording_report.json").read_text())
    assert report["error_class"] == "SortTerminated" and "SIGTERM" in report["error_message"]
    survivors = [p for p in psutil.process_iter(["cmdline"])
                 if any(str(inter) in part for part in (p.info["cmdline"] or []))]
    _, alive = psutil.wait_procs(survivors, timeout=15)  # a sorter child may still be exiting
    assert alive == []


def test_temporary_files_of_a_killed_run_are_removed_at_the_next_start(small_file, tmp_path):
    path, _ = small_file
    _sort(path, tmp_path)
    inter, results = tmp_path / "inter", tmp_path / "results"
    left = [inter / ".spikelab_manifest.json.k3j.tmp", results / ".recording_report.json.x1.tmp",
            inter / "sorter_output" / ".spike_times.npy.a.tmp"]
    for stale in left:
        stale.write_bytes(b"partial")
    mine = inter / "notes.tmp"
    mine.write_text("a user's file")
    _sort(path, tmp_path)
    assert [p for p in left if p.exists()] == []
    assert mine.read_text() == "a user's file"
