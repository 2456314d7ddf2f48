"""How many workers a local cluster gets when the caller does not say."""

from __future__ import annotations

import os

import pytest

from spikelab.spike_sorting.batch.cluster import default_workers


@pytest.fixture
def sixteen_cores(monkeypatch):
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: set(range(16)), raising=False)


def test_cpu_sorts_get_one_worker_per_two_cores_and_no_more_than_the_ram_holds(sixteen_cores):
    assert default_workers(6, needs_gpu=False, gpus=0) == 6
    assert default_workers(24, needs_gpu=False, gpus=0) == 8
    # six 1,020-channel wells, 2 GB asked per sort, 7 GB available: three at a time
    assert default_workers(6, needs_gpu=False, gpus=0, ram_per_worker_gb=2.0, available_ram=7e9) == 3
    assert default_workers(6, needs_gpu=False, gpus=0, ram_per_worker_gb=2.0, available_ram=1e9) == 1


def test_gpu_sorts_get_one_worker_per_gpu(sixteen_cores):
    assert default_workers(6, needs_gpu=True, gpus=2) == 2
