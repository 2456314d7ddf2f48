"""The GPU watchdog and preflight watch the GPU that ``rt_sort_device`` names (they watched
device 0 whatever RT-Sort was told, so a sort on ``cuda:1`` was guarded by another GPU's memory)."""

from pathlib import Path

import pytest

pytest.importorskip("spikelab.spike_sorting.backend")

from spikelab.plugins import get_plugin_manager  # noqa: E402
from spikelab.spike_sorting.backend import SortJob  # noqa: E402
from spikelab.spike_sorting.config import SortingPipelineConfig  # noqa: E402
from spikelab.spike_sorting.guards.base import WatchContext  # noqa: E402
from spikelab.spike_sorting.guards.gpu import gpu_watchdog  # noqa: E402
from spikelab.testing.fake_nvml import FakeGpu, FakeNvml  # noqa: E402


def test_gpu_watchdog_watches_the_device_rt_sort_runs_on(tmp_path: Path, monkeypatch):
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    backend = get_plugin_manager().sorter("rt_sort")
    config = SortingPipelineConfig().override(sorter="rt_sort", rt_sort_device="cuda:1")
    job = SortJob(recording_folder=tmp_path / "recording", sorter_folder=tmp_path / "sorter",
                  log_path=tmp_path / "sorter" / backend.log_name, params=backend.resolve_params(config),
                  config=config)
    context = WatchContext(config=config, backend=backend, job=job, recording_duration_s=10.0,
                           results_folder=tmp_path / "results")
    # device 0 is idle; device 1, where RT-Sort runs, is full
    with FakeNvml([FakeGpu(total_gb=8.0, used_gb=1.0), FakeGpu(total_gb=8.0, used_gb=7.95)]).installed():
        watchdog = gpu_watchdog(context)
        try:
            assert watchdog is not None and watchdog.device_index == 1
            assert watchdog.check() is not None  # the full GPU trips it
        finally:
            watchdog.stop()
