"""With the default torch_device="auto", a GPU machine gets the GPU preflight and watchdog."""

from __future__ import annotations

from spikelab.plugins import get_plugin_manager
from spikelab.spike_sorting.config import SortingPipelineConfig
from spikelab.testing.fake_nvml import FakeGpu, FakeNvml


def test_auto_device_is_watched_when_nvml_finds_a_gpu():
    backend = get_plugin_manager().sorter("kilosort4")
    config = SortingPipelineConfig().override(sorter="kilosort4")  # torch_device="auto"
    with FakeNvml([FakeGpu(total_gb=80.0)]).installed():
        assert backend.needs_gpu(config)
    with FakeNvml(library_found=False).installed():
        assert not backend.needs_gpu(config)
    cpu = SortingPipelineConfig().override(sorter="kilosort4", torch_device="cpu")
    with FakeNvml([FakeGpu(total_gb=80.0)]).installed():
        assert not backend.needs_gpu(cpu)
