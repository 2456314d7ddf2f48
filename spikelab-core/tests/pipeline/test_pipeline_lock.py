"""The per-recording sort lock, with real processes."""

from __future__ import annotations

import json
import os
import socket

import psutil
import pytest
from pipeline_helpers import inline_kwargs, kill_group, start_child_sort, wait_for

from spikelab.spike_sorting import lock, sort_recording
from spikelab.spike_sorting._exceptions import ConcurrentSortError


def test_a_second_process_gets_concurrent_sort_error_and_a_dead_holder_is_reclaimed(small_file, tmp_path):
    path, _ = small_file
    inter, results = tmp_path / "inter", tmp_path / "results"
    child = start_child_sort(
        path, inter, results, sorter="fake", fake_behaviour="hang", fake_hang_s=120.0, n_jobs=1,
        progress_bar=False, prevent_system_sleep=False, sorter_inactivity_timeout=False,
    )
    lock_path = inter / lock.LOCK_NAME
    try:
        wait_for(lock_path.exists, child)
        with pytest.raises(ConcurrentSortError) as info:
            sort_recording([path], **inline_kwargs(), intermediate_folders=[inter],
                           results_folders=[tmp_path / "results2"])
        assert info.value.status == "concurrent_sort"
        assert info.value.holder_pid == child.pid
        assert [r.status for r in info.value.results] == ["concurrent_sort"]
    finally:
        kill_group(child)
    # The holder died without releasing its lock: the next sort reclaims it.
    assert lock_path.exists()
    sds = sort_recording([path], **inline_kwargs(), intermediate_folders=[inter], results_folders=[results])
    assert len(sds) == 1
    assert not lock_path.exists()


def test_lock_is_exclusive_and_released(tmp_path):
    with lock.sort_lock(tmp_path) as path:
        info = json.loads(path.read_text())
        assert info["pid"] == os.getpid() and info["hostname"] == socket.gethostname()
        with pytest.raises(ConcurrentSortError, match="Another sort"):
            lock.acquire(tmp_path)
    assert not path.exists()


def test_a_recycled_pid_does_not_keep_a_stale_lock(tmp_path):
    # Our own pid, but a process start time that is not ours: the pid was reused.
    stale = {
        "pid": os.getpid(), "hostname": socket.gethostname(), "started_at": 1.0,
        "process_started_at": psutil.Process().create_time() - 3600,
    }
    (tmp_path / lock.LOCK_NAME).write_text(json.dumps(stale))
    path = lock.acquire(tmp_path)
    assert json.loads(path.read_text())["process_started_at"] == pytest.approx(psutil.Process().create_time())
    lock.release(path)


def test_a_lock_held_on_another_host_is_never_reclaimed(tmp_path):
    other = {"pid": 1, "hostname": "elsewhere.example", "started_at": 1.0, "process_started_at": 1.0}
    (tmp_path / lock.LOCK_NAME).write_text(json.dumps(other))
    with pytest.raises(ConcurrentSortError, match="elsewhere.example"):
        lock.acquire(tmp_path)


def test_a_lock_held_by_a_zombie_is_stale(tmp_path):
    """A sort killed together with its parent stays a zombie where nothing reaps it (PID 1 in many
    containers is not an init): its pid and start time still read back, so its lock blocked every
    rerun with ConcurrentSortError although nothing was sorting."""
    import subprocess
    import sys
    import time

    process = subprocess.Popen([sys.executable, "-c", "pass"])
    try:
        info = {"hostname": socket.gethostname(), "pid": process.pid,
                "process_started_at": psutil.Process(process.pid).create_time()}
        deadline = time.monotonic() + 30
        while psutil.Process(process.pid).status() != psutil.STATUS_ZOMBIE:
            assert time.monotonic() < deadline, "the child never exited"
            time.sleep(0.05)
        assert lock.holder_alive(info) is False
    finally:
        process.wait()
