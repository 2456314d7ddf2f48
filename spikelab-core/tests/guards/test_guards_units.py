"""Guards without a sorter child: tolerance scaling, stall logic, factories, sleep blocker, events."""

from __future__ import annotations

import os
import stat
import sys

import psutil
import pytest

from spikelab.plugins import get_plugin_manager as plugins
from spikelab.spike_sorting.guards import io_stall
from spikelab.spike_sorting.guards.events import EventLog, read_events
from spikelab.spike_sorting.guards.inactivity import inactivity_tolerance_s, inactivity_watchdog
from spikelab.spike_sorting.guards.io_stall import IOStallWatchdog, TreeActivity
from spikelab.spike_sorting.guards.sleep import prevent_system_sleep
from spikelab.spike_sorting.guards.watch import build_watchdogs


@pytest.mark.parametrize(("minutes", "expected"), [(0, 600.0), (10, 900.0), (60, 2400.0), (300, 7200.0)])
def test_inactivity_tolerance_grows_with_the_recording_and_is_capped(minutes, expected):
    assert inactivity_tolerance_s(minutes * 60, base_s=600, per_min_s=30, max_s=7200) == expected


def test_inactivity_factory_uses_the_recording_length(make_job):
    _, context = make_job()
    long_context = type(context)(
        config=context.config,
        backend=context.backend,
        job=context.job,
        recording_duration_s=3600.0,
        results_folder=context.results_folder,
    )
    assert inactivity_watchdog(long_context).tolerance_s == 2400.0
    assert inactivity_watchdog(make_job(sorter_inactivity_timeout=False)[1]) is None


class _Clock:
    def __init__(self):
        self.now = 0.0

    def monotonic(self):
        return self.now


def _stall_run(monkeypatch, samples, stall_s=10.0, step=1.0):
    clock = _Clock()
    monkeypatch.setattr(io_stall.time, "monotonic", clock.monotonic)
    feed = iter(samples)
    watchdog = IOStallWatchdog(stall_s=stall_s, poll_interval_s=step, probe=lambda pid: next(feed))
    watchdog.pid = 1
    results = []
    for _ in samples:
        results.append(watchdog.check())
        clock.now += step
    return results


def test_io_stall_needs_both_no_bytes_and_no_cpu(monkeypatch):
    blocked = [TreeActivity(1000, 5.0)] * 15
    assert any(_stall_run(monkeypatch, blocked))
    computing = [TreeActivity(1000, 5.0 + 0.9 * i) for i in range(15)]  # 90 % of a core, no I/O
    assert not any(_stall_run(monkeypatch, computing))
    reading = [TreeActivity(1000 + 10 * i, 5.0) for i in range(15)]
    assert not any(_stall_run(monkeypatch, reading))


def test_io_stall_error_reports_how_long(monkeypatch):
    errors = [e for e in _stall_run(monkeypatch, [TreeActivity(7, 1.0)] * 15) if e]
    assert errors[0].status == "io_stall" and errors[0].stall_s >= 10.0


def test_knobs_turn_each_watchdog_off_and_inline_runs_have_none(make_job):
    _, everything = make_job()
    names = {w.name for w in build_watchdogs(everything, plugin_manager=plugins())}
    assert names == {"host_memory", "disk", "inactivity", "io_stall"}
    _, nothing = make_job(
        host_ram_watchdog=False,
        disk_watchdog=False,
        io_stall_watchdog=False,
        sorter_inactivity_timeout=False,
        gpu_watchdog=False,
    )
    assert build_watchdogs(nothing, plugin_manager=plugins()) == []
    _, inline = make_job(isolation="inline")
    assert build_watchdogs(inline, plugin_manager=plugins()) == []
    _, docker = make_job(use_docker=True)  # the container's I/O is not the child's
    assert {w.name for w in build_watchdogs(docker, plugin_manager=plugins())} == {"host_memory", "disk", "inactivity"}


def test_a_broken_factory_is_skipped(make_job, fresh_plugin_manager):
    from spikelab import hookimpl

    class Plugin:
        @hookimpl
        def spikelab_register_watchdogs(self, register):
            register(lambda context: 1 / 0)

    fresh_plugin_manager.register(Plugin(), name="broken_guard")
    _, context = make_job()
    names = [w.name for w in build_watchdogs(context, plugin_manager=fresh_plugin_manager)]
    assert "host_memory" in names


def test_events_are_json_lines_with_timestamps(tmp_path):
    events = EventLog(tmp_path, sorter="fake")
    events.append("disk", "warn", free_gb=4.2, folder=tmp_path)
    events.append("disk", "abort", free_gb=0.9)
    lines = read_events(tmp_path)
    assert [(e["watchdog"], e["event"], e["sorter"]) for e in lines] == [
        ("disk", "warn", "fake"),
        ("disk", "abort", "fake"),
    ]
    assert lines[0]["folder"] == str(tmp_path) and lines[0]["timestamp"].endswith("+00:00")


def _children_named(name):
    return [p for p in psutil.Process().children(recursive=True) if name in " ".join(p.cmdline())]


def test_sleep_blocker_can_be_disabled():
    with prevent_system_sleep(False) as blocked:
        assert blocked is False
        assert _children_named("systemd-inhibit") == []


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="systemd-inhibit is Linux only")
def test_sleep_blocker_holds_an_inhibitor_child_and_releases_it(tmp_path, monkeypatch):
    # a stand-in systemd-inhibit that behaves like the real one on a desktop: it runs its command
    tool = tmp_path / "systemd-inhibit"
    tool.write_text('#!/bin/sh\necho "$@" > "$(dirname "$0")/args"\nexec sleep 600\n')
    tool.chmod(tool.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", f"{tmp_path}{os.pathsep}{os.environ['PATH']}")
    before = {p.pid for p in psutil.Process().children()}  # other tests may leave children running
    with prevent_system_sleep(True) as blocked:
        assert blocked is True
        holders = [
            p for p in psutil.Process().children()
            if p.pid not in before and p.status() != psutil.STATUS_ZOMBIE
        ]
        assert holders
    assert "--what=sleep:idle" in (tmp_path / "args").read_text()
    psutil.wait_procs(holders, timeout=3)
    assert not any(p.is_running() and p.status() != psutil.STATUS_ZOMBIE for p in holders)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="systemd-inhibit is Linux only")
def test_sleep_blocker_is_a_no_op_when_the_tool_fails(tmp_path, monkeypatch):
    tool = tmp_path / "systemd-inhibit"  # like the real one in a container without a system bus
    tool.write_text('#!/bin/sh\necho "Failed to connect to bus: No such file or directory" >&2\nexit 1\n')
    tool.chmod(tool.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", f"{tmp_path}{os.pathsep}{os.environ['PATH']}")
    with prevent_system_sleep(True) as blocked:
        assert blocked is False
