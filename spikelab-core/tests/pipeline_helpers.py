"""Helpers shared by the pipeline tests (a uniquely named module: every package's tests share
one pytest session, so a bare ``conftest`` import would be ambiguous)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path


def fast_kwargs(**extra):
    """Flat overrides that keep the fake-backend runs small and quiet."""
    kwargs = dict(sorter="fake", n_jobs=1, progress_bar=False, prevent_system_sleep=False)
    kwargs.update(extra)
    return kwargs


def inline_kwargs(**extra):
    """``fast_kwargs`` with the sorter run in this process (no child start-up cost)."""
    return fast_kwargs(isolation="inline", **extra)


def write_silent_file(path):
    """A legacy Maxwell file whose traces are flat: no sorter finds a spike in it."""
    import numpy as np

    from spikelab.testing.maxwell import write_legacy

    return write_legacy(path, traces=np.full((8, 40000), 512, dtype=np.uint16))


CHILD = Path(__file__).parent / "pipeline" / "_child_sort.py"


def start_child_sort(recording, inter, results, **kwargs) -> subprocess.Popen:
    """Start ``sort_recording`` in another process (its own process group, so it can be killed whole)."""
    args = [sys.executable, str(CHILD), str(recording), str(inter), str(results)]
    args += [f"{k}={json.dumps(v)}" for k, v in kwargs.items()]
    return subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)


def kill_group(process: subprocess.Popen) -> None:
    os.killpg(process.pid, signal.SIGKILL)
    process.wait(30)


def wait_for(predicate, process: subprocess.Popen, timeout_s: float = 120.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if process.poll() is not None:
            raise AssertionError(f"child ended early: {process.communicate()[1].decode()[-3000:]}")
        if time.monotonic() > deadline:
            kill_group(process)
            raise AssertionError("timed out waiting for the child")
        time.sleep(0.05)
