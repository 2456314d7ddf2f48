"""Safeguards inside ``sort_recording``: a tripped guard fails one recording and loses nothing else."""

from __future__ import annotations

import json

import psutil
import pytest

from spikelab import hookimpl
from spikelab.plugins import get_plugin_manager
from spikelab.spike_sorting import sort_recording
from spikelab.spike_sorting._exceptions import DiskExhaustionError
from spikelab.spike_sorting.guards.disk import REPORT_NAME, DiskWatchdog
from spikelab.spike_sorting.guards.events import events_for, read_events


class FullDiskForOneRecording:
    """A watchdog plugin (through the public hook) whose disk probe says 'full' for one recording."""

    def __init__(self, victim: str):
        self.victim = victim
        self.pids: list[int] = []

    @hookimpl
    def spikelab_register_watchdogs(self, register):
        register(self.factory)

    def factory(self, context):
        if self.victim not in str(context.results_folder):
            return None
        plugin = self

        class Tracked(DiskWatchdog):
            def start(self, pid):
                plugin.pids.append(pid)
                super().start(pid)

        return Tracked(
            [context.job.sorter_folder],
            report_folder=context.results_folder,
            poll_interval_s=0.05,
            probe=lambda path: (100e9, 99.8e9, 0.2e9),
            events=events_for(context),
            sorter="fake",
        )


@pytest.fixture
def full_disk_plugin():
    plugin = FullDiskForOneRecording("rec_b")
    manager = get_plugin_manager()
    manager.register(plugin, name="test_full_disk")
    try:
        yield plugin
    finally:
        manager.unregister("test_full_disk")


def test_a_tripped_guard_fails_its_recording_and_keeps_the_others(tmp_path, full_disk_plugin):
    from spikelab.testing.recordings import tiny_recording

    recordings = [tiny_recording(seed=s, duration_s=3.0, num_channels=8, num_units=3)[0] for s in (1, 2)]
    with pytest.raises(DiskExhaustionError) as info:
        sort_recording(
            recordings,
            sorter="fake",
            n_jobs=1,
            progress_bar=False,
            prevent_system_sleep=False,
            intermediate_folders=[tmp_path / "inter" / "rec_a", tmp_path / "inter" / "rec_b"],
            results_folders=[tmp_path / "results" / "rec_a", tmp_path / "results" / "rec_b"],
        )
    error = info.value
    assert error.status == "disk_exhausted" and error.stage == "sort" and error.sorter == "fake"
    assert [r.status for r in error.results] == ["success", "disk_exhausted"]
    good = tmp_path / "results" / "rec_a"
    assert (good / "sorted_spikedata_curated.pkl").is_file()
    assert read_events(good) == []  # a healthy sort leaves no watchdog noise
    bad = tmp_path / "results" / "rec_b"
    report = json.loads((bad / REPORT_NAME).read_text())
    assert report["free_gb_at_trip"] == 0.2 and report["suggested_actions"]
    assert [e["event"] for e in read_events(bad)] == ["abort"]
    assert '"disk_exhausted"' in (bad / "recording_report.json").read_text()  # the failure is reported too
    assert full_disk_plugin.pids and not any(
        psutil.pid_exists(pid) and psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
        for pid in full_disk_plugin.pids
    )


def test_built_in_guards_are_tuned_through_sort_recording_kwargs(tmp_path):
    from spikelab.spike_sorting._exceptions import SorterTimeoutError
    from spikelab.testing.recordings import tiny_recording

    recording = tiny_recording(seed=4, duration_s=2.0, num_channels=8, num_units=3)[0]
    with pytest.raises(SorterTimeoutError) as info:
        sort_recording(
            [recording],
            sorter="fake",
            fake_behaviour="hang",
            fake_hang_s=120.0,
            n_jobs=1,
            progress_bar=False,
            prevent_system_sleep=False,
            sorter_inactivity_base_s=2.0,
            sorter_inactivity_per_min_s=0.0,
            sorter_inactivity_max_s=2.0,
            intermediate_folders=[tmp_path / "inter"],
            results_folders=[tmp_path / "results"],
        )
    assert info.value.status == "sorter_timeout" and info.value.results[0].status == "sorter_timeout"
    assert info.value.results[0].attempts[0].status == "sorter_timeout"  # not retried: not an OOM
    assert len(info.value.results[0].attempts) == 1
    events = read_events(tmp_path / "results")
    assert [(e["watchdog"], e["event"]) for e in events] == [("inactivity", "abort")]
