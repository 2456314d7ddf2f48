"""Helpers shared by the safeguard tests (a unique module name: test folders share sys.path)."""

from __future__ import annotations

import attrs
import psutil


def with_gpu(backend):
    """The fake backend declaring that it needs a GPU."""
    return attrs.evolve(backend, needs_gpu=lambda config: True)


def assert_no_orphans(pids):
    """Every pid is gone (or a zombie awaiting its reaper outside our tree)."""
    alive = []
    for pid in pids:
        try:
            proc = psutil.Process(pid)
            if proc.status() != psutil.STATUS_ZOMBIE:
                alive.append((pid, proc.name(), proc.status()))
        except psutil.NoSuchProcess:
            continue
    assert not alive, f"processes survived the stop: {alive}"
