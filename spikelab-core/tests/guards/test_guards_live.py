"""Watchdogs against real sorter child processes: each stops the child and its whole tree."""

from __future__ import annotations

import json
import time

import psutil
import pytest
from _guards_helpers import assert_no_orphans

from spikelab.plugins import get_plugin_manager as plugins
from spikelab.spike_sorting._exceptions import (
    DiskExhaustionError,
    HostMemoryWatchdogError,
    IOStallError,
    SorterTimeoutError,
)
from spikelab.spike_sorting.child import run_in_child
from spikelab.spike_sorting.guards.disk import REPORT_NAME, DiskWatchdog
from spikelab.spike_sorting.guards.events import read_events
from spikelab.spike_sorting.guards.io_stall import IOStallWatchdog
from spikelab.spike_sorting.guards.watch import build_watchdogs
from spikelab.testing.fake_backend import run as fake_run

QUIET = dict(
    host_ram_watchdog=False,
    disk_watchdog=False,
    io_stall_watchdog=False,
    gpu_watchdog=False,
    sorter_inactivity_timeout=False,
)
#: A long backstop so a broken guard fails the test instead of hanging it.
BACKSTOP = dict(
    sorter_inactivity_timeout=True,
    sorter_inactivity_base_s=60.0,
    sorter_inactivity_per_min_s=0.0,
    sorter_inactivity_max_s=60.0,
)


def knobs(*groups, **extra):
    """QUIET, then each group, then ``extra``: later values win."""
    merged = dict(QUIET)
    for group in groups:
        merged.update(group)
    merged.update(extra)
    return merged


def _run(job, watchdogs, runner=fake_run):
    with pytest.raises(Exception) as info:
        run_in_child(runner, job, sorter="fake", watchdogs=watchdogs)
    pids = {w.pid for w in watchdogs if getattr(w, "pid", None)}
    return info.value, pids


def test_ram_watchdog_stops_a_child_that_eats_memory(make_job):
    current = psutil.virtual_memory().percent
    abort = min(99.0, current + 2.0)  # about 480 MB above current use on a 24 GB machine
    job, context = make_job(
        **knobs(
            BACKSTOP,
            host_ram_watchdog=True,
            host_ram_warn_pct=min(abort, current + 1.0),
            host_ram_abort_pct=abort,
            host_ram_poll_interval_s=0.2,
            fake_behaviour="eat_memory",
            fake_eat_limit_gb=2.0,
            fake_eat_step_mb=100,
        )
    )
    watchdogs = build_watchdogs(context, plugin_manager=plugins())
    assert [w.name for w in watchdogs] == ["host_memory", "inactivity"]
    error, pids = _run(job, watchdogs)
    assert isinstance(error, HostMemoryWatchdogError), error
    assert error.status == "oom_host_ram"
    assert error.percent_at_trip >= abort and error.abort_pct == abort
    assert error.sorter == "fake" and error.stage == "sort"
    assert_no_orphans(pids)
    events = read_events(context.results_folder)
    aborts = [e for e in events if e["event"] == "abort"]
    assert aborts and aborts[0]["watchdog"] == "host_memory" and aborts[0]["status"] == "oom_host_ram"
    assert aborts[0]["percent_at_trip"] >= abort
    assert aborts[0]["sorter_rss_gb"] > 0.1  # the child had allocated several blocks of 100 MB
    assert aborts[0]["top_processes"] and all(
        set(row) == {"pid", "name", "rss_gb", "sorter"} for row in aborts[0]["top_processes"]
    )


def test_inactivity_watchdog_stops_a_silent_child(make_job):
    job, context = make_job(
        **knobs(
            sorter_inactivity_timeout=True,
            sorter_inactivity_base_s=2.0,
            sorter_inactivity_per_min_s=0.0,
            sorter_inactivity_max_s=2.0,
            fake_behaviour="hang",
            fake_hang_s=120.0,
        )
    )
    watchdogs = build_watchdogs(context, plugin_manager=plugins())
    started = time.monotonic()
    error, pids = _run(job, watchdogs)
    assert isinstance(error, SorterTimeoutError), error
    assert error.status == "sorter_timeout"
    assert error.inactivity_s >= 2.0
    assert error.log_path == str(job.log_path)
    assert time.monotonic() - started < 60  # stopped by the guard, not by fake_hang_s
    assert_no_orphans(pids)
    assert [e["watchdog"] for e in read_events(context.results_folder)] == ["inactivity"]


def test_stop_kills_grandchildren_and_escaped_daemons(make_job):
    import _guards_runners

    job, context = make_job(
        **knobs(
            sorter_inactivity_timeout=True,
            sorter_inactivity_base_s=3.0,
            sorter_inactivity_per_min_s=0.0,
            sorter_inactivity_max_s=3.0,
        )
    )
    watchdogs = build_watchdogs(context, plugin_manager=plugins())
    error, _ = _run(job, watchdogs, runner=_guards_runners.spawn_tree_then_hang)
    assert isinstance(error, SorterTimeoutError), error
    pids = [int(p) for p in (job.sorter_folder / "pids.txt").read_text().split()]
    assert len(pids) == 3
    assert_no_orphans(pids)


def test_disk_watchdog_trips_on_an_injected_probe_and_writes_the_report(make_job):
    job, context = make_job(**knobs(BACKSTOP, fake_behaviour="hang", fake_hang_s=120.0))
    job.sorter_folder.mkdir(parents=True, exist_ok=True)
    (job.sorter_folder / "temp_wh.dat").write_bytes(b"\0" * 300_000)
    started = time.monotonic()

    def filling_disk(path):  # 10 GB free, losing 4 GB a second
        free = max(0.0, 10e9 - 4e9 * (time.monotonic() - started))
        return (100e9, 100e9 - free, free)

    watchdog = DiskWatchdog(
        [job.sorter_folder],
        report_folder=context.results_folder,
        warn_free_gb=5.0,
        abort_free_gb=1.0,
        poll_interval_s=0.1,
        probe=filling_disk,
        events=build_events(context),
        sorter="fake",
    )
    error, pids = _run(job, [watchdog])
    assert isinstance(error, DiskExhaustionError), error
    assert error.status == "disk_exhausted"
    assert error.free_gb_at_trip <= 1.0 and error.abort_threshold_gb == 1.0
    report = json.loads((context.results_folder / REPORT_NAME).read_text())
    assert error.report_path == str(context.results_folder / REPORT_NAME)
    assert report["free_gb_at_trip"] <= 1.0
    assert report["top_consumers"][0]["path"].endswith("temp_wh.dat")
    assert report["suggested_actions"]
    assert_no_orphans(pids)
    kinds = [(e["watchdog"], e["event"]) for e in read_events(context.results_folder)]
    assert ("disk", "warn") in kinds and kinds[-1] == ("disk", "abort")


def build_events(context):
    from spikelab.spike_sorting.guards.events import events_for

    return events_for(context)


@pytest.fixture
def tmpfs(tmp_path):
    """A 48 MB tmpfs mount (needs root); skipped where mounting is not allowed."""
    import subprocess

    mount = tmp_path / "small_volume"
    mount.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=48m", "tmpfs", str(mount)], capture_output=True, check=False
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode().strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def test_disk_watchdog_on_a_real_small_volume_that_fills(make_job, tmpfs):
    import threading

    job, context = make_job(**knobs(BACKSTOP, fake_behaviour="hang", fake_hang_s=120.0))
    stop = threading.Event()

    def fill():  # another writer fills the sorter's volume, 2 MB every 20 ms
        index = 0
        while not stop.is_set():
            try:
                (tmpfs / f"chunk{index:04d}.bin").write_bytes(b"\1" * 2_000_000)
            except OSError:
                return
            index += 1
            time.sleep(0.02)

    watchdog = DiskWatchdog(
        [tmpfs],
        report_folder=context.results_folder,
        warn_free_gb=0.03,
        abort_free_gb=0.016,
        poll_interval_s=0.05,
        events=build_events(context),
    )
    filler = threading.Thread(target=fill, daemon=True)
    filler.start()
    try:
        error, pids = _run(job, [watchdog])
    finally:
        stop.set()
        filler.join(5)
    assert isinstance(error, DiskExhaustionError), error
    assert error.folder == str(tmpfs)
    report = json.loads((context.results_folder / REPORT_NAME).read_text())
    assert report["gb_consumed_during_sort"] > 0.01
    assert len(report["top_consumers"]) == 10
    assert_no_orphans(pids)


def test_io_stall_watchdog_stops_a_child_blocked_without_io(make_job):
    # real kernel counters: the hanging child sleeps, moving no bytes and using no CPU
    job, context = make_job(**knobs(BACKSTOP, fake_behaviour="hang", fake_hang_s=120.0))
    watchdog = IOStallWatchdog(stall_s=1.5, poll_interval_s=0.25, events=build_events(context), sorter="fake")
    error, pids = _run(job, [watchdog])
    assert isinstance(error, IOStallError), error
    assert error.status == "io_stall" and error.stall_s >= 1.5
    assert_no_orphans(pids)
    assert read_events(context.results_folder)[-1]["watchdog"] == "io_stall"


def test_healthy_sort_is_not_disturbed_and_stays_silent(make_job):
    job, context = make_job(sorter_inactivity_base_s=30.0, io_stall_s=30.0)
    watchdogs = build_watchdogs(context, plugin_manager=plugins())
    assert {"host_memory", "disk", "inactivity", "io_stall"} <= {w.name for w in watchdogs}
    run_in_child(fake_run, job, sorter="fake", watchdogs=watchdogs)
    assert (job.sorter_folder / "spike_times.npy").is_file()
    assert read_events(context.results_folder) == []
    assert all(w.tripped() is None for w in watchdogs)


@pytest.mark.parametrize("runner_name", ["ignore_sigterm_then_hang", "clean_up_on_sigterm_then_hang"])
def test_sigterm_first_then_sigkill_after_the_grace(make_job, runner_name):
    import _guards_runners

    job, context = make_job(
        **knobs(
            sorter_inactivity_timeout=True,
            sorter_inactivity_base_s=2.0,
            sorter_inactivity_per_min_s=0.0,
            sorter_inactivity_max_s=2.0,
        )
    )
    watchdogs = build_watchdogs(context, plugin_manager=plugins())
    with pytest.raises(SorterTimeoutError):
        run_in_child(
            getattr(_guards_runners, runner_name), job, sorter="fake", watchdogs=watchdogs, kill_grace_s=2.0
        )
    assert_no_orphans([w.pid for w in watchdogs])
    cleaned = (job.sorter_folder / "cleaned_up").is_file()
    assert cleaned == (runner_name == "clean_up_on_sigterm_then_hang")


def test_a_backend_declares_how_long_its_runner_needs_to_stop(make_job):
    import attrs

    from spikelab.spike_sorting.builtin_run import kill_grace_s

    fake = plugins().sorter("fake")
    job, _ = make_job()
    assert kill_grace_s(fake, job) == 3.0
    assert kill_grace_s(attrs.evolve(fake, stop_grace_s=lambda job: 15.0), job) == 15.0


PARENT_SCRIPT = """
import sys
sys.path.insert(0, sys.argv[2])
import pickle
import _guards_runners
from spikelab.spike_sorting.child import run_in_child

with open(sys.argv[1], "rb") as handle:
    job = pickle.load(handle)
run_in_child(_guards_runners.spawn_tree_then_hang, job, sorter="fake")
"""


def test_a_killed_parent_takes_the_sorter_and_its_helpers_with_it(make_job, tmp_path):
    """SIGKILL of the pipeline (OOM killer, scheduler) must not leave a sorter holding the GPU."""
    import pickle
    import signal
    import subprocess
    import sys
    from pathlib import Path

    job, _ = make_job()
    job_file = tmp_path / "job.pkl"
    job_file.write_bytes(pickle.dumps(job))
    script = tmp_path / "parent.py"
    script.write_text(PARENT_SCRIPT)
    parent = subprocess.Popen([sys.executable, str(script), str(job_file), str(Path(__file__).parent)])
    pids_file = job.sorter_folder / "pids.txt"
    deadline = time.monotonic() + 60
    while not pids_file.is_file() and time.monotonic() < deadline and parent.poll() is None:
        time.sleep(0.1)
    assert pids_file.is_file(), "the sorter child never started its helpers"
    time.sleep(0.2)
    pids = [int(p) for p in pids_file.read_text().split()]
    parent.send_signal(signal.SIGKILL)
    parent.wait(10)
    procs = []
    for pid in pids:
        try:
            procs.append(psutil.Process(pid))
        except psutil.NoSuchProcess:
            continue
    psutil.wait_procs(procs, timeout=15)
    assert_no_orphans(pids)
