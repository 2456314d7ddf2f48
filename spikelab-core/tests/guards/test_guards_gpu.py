"""GPU watchdog against a scripted fake NVML, with a real sorter child to stop."""

from __future__ import annotations

import attrs
import pytest
from _guards_helpers import assert_no_orphans, with_gpu

from spikelab.plugins import get_plugin_manager as plugins
from spikelab.spike_sorting._exceptions import GpuMemoryWatchdogError, GpuThermalWatchdogError
from spikelab.spike_sorting.child import run_in_child
from spikelab.spike_sorting.guards.events import read_events
from spikelab.spike_sorting.guards.gpu import gpu_watchdog, resolve_device_index
from spikelab.spike_sorting.guards.watch import build_watchdogs
from spikelab.testing.fake_backend import run as fake_run
from spikelab.testing.fake_nvml import FakeGpu, FakeNvml

GPU_ONLY = dict(
    host_ram_watchdog=False,
    disk_watchdog=False,
    io_stall_watchdog=False,
    sorter_inactivity_base_s=60.0,
    sorter_inactivity_max_s=60.0,
    gpu_poll_interval_s=0.1,
)


def test_memory_climb_stops_the_child_with_a_retryable_error(make_job, fake_backend_obj):
    other_job = (424242, 3.0)  # another sort holding 3 GiB of the same GPU
    nvml = FakeNvml(
        [FakeGpu(total_gb=8.0, used_gb=[(0.0, 2.0), (1.0, 6.9), (1.5, 7.9)], processes=[other_job])]
    )
    job, context = make_job(backend=with_gpu(fake_backend_obj), **GPU_ONLY, fake_behaviour="hang")
    with nvml.installed():
        watchdogs = build_watchdogs(context, plugin_manager=plugins())
        assert "gpu_memory" in [w.name for w in watchdogs]
        with pytest.raises(GpuMemoryWatchdogError) as info:
            run_in_child(fake_run, job, sorter="fake", watchdogs=watchdogs)
    error = info.value
    assert error.status == "oom_gpu" and error.oom_retryable
    assert error.used_pct_at_trip >= 95.0 and error.abort_pct == 95.0 and error.device_index == 0
    assert_no_orphans([w.pid for w in watchdogs])
    events = read_events(context.results_folder)
    assert ("gpu_memory", "warn") in [(e["watchdog"], e["event"]) for e in events]  # 86 % at t=1 s
    assert events[-1]["watchdog"] == "gpu_memory" and events[-1]["event"] == "abort"
    assert events[-1]["gpu_processes"] == [{"pid": 424242, "used_gib": 3.0, "sorter": False}]
    assert "1 other process(es) use this GPU (pids 424242)" in str(error)
    assert nvml.init_count == 0  # NVML released after the sort


def test_overheating_gpu_stops_the_child(make_job, fake_backend_obj):
    nvml = FakeNvml([FakeGpu(used_gb=1.0, temperature_c=[(0.0, 70.0), (0.8, 93.0)])])
    job, context = make_job(backend=with_gpu(fake_backend_obj), **GPU_ONLY, fake_behaviour="hang")
    with nvml.installed(), pytest.raises(GpuThermalWatchdogError) as info:
        run_in_child(fake_run, job, sorter="fake", watchdogs=build_watchdogs(context, plugin_manager=plugins()))
    assert info.value.status == "gpu_thermal"
    assert info.value.temperature_c_at_trip == 93.0 and not info.value.oom_retryable
    assert read_events(context.results_folder)[-1]["watchdog"] == "gpu_thermal"


def test_no_gpu_watchdog_without_nvml_or_for_cpu_backends(make_job, fake_backend_obj):
    _, gpu_context = make_job(backend=with_gpu(fake_backend_obj))
    with FakeNvml(library_found=False).installed():
        assert gpu_watchdog(gpu_context) is None
    _, cpu_context = make_job()
    with FakeNvml().installed():
        assert gpu_watchdog(cpu_context) is None
    _, off_context = make_job(backend=with_gpu(fake_backend_obj), gpu_watchdog=False)
    with FakeNvml().installed():
        assert gpu_watchdog(off_context) is None


def test_real_nvml_here_means_no_gpu_watchdog(make_job, fake_backend_obj):
    # on machines without the NVIDIA driver pynvml raises NVMLError_LibraryNotFound
    pynvml = pytest.importorskip("pynvml")
    try:
        pynvml.nvmlInit()
    except pynvml.NVMLError:
        _, context = make_job(backend=with_gpu(fake_backend_obj))
        assert gpu_watchdog(context) is None
    else:
        pynvml.nvmlShutdown()
        pytest.skip("this machine has a working NVML")


def test_watchdog_follows_the_requested_device(make_job, fake_backend_obj, monkeypatch):
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    assert resolve_device_index({"torch_device": "cuda:1"}, "torch_device") == 1
    assert resolve_device_index({"torch_device": "cpu"}, "torch_device") == 0
    assert resolve_device_index({"torch_device": "cuda:1"}, None) == 0  # no declared device parameter
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "3,1")
    assert resolve_device_index({"torch_device": "cuda:1"}, "torch_device") == 1
    assert resolve_device_index({"torch_device": "cuda"}, "torch_device") == 3
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES")
    nvml = FakeNvml([FakeGpu(used_gb=1.0), FakeGpu(used_gb=7.95)])
    _, context = make_job(backend=with_gpu(fake_backend_obj))
    with nvml.installed():
        watchdog = gpu_watchdog(context)
        assert watchdog.device_index == 0 and watchdog.check() is None
        watchdog.stop()
    job, context = make_job(backend=with_gpu(fake_backend_obj))
    context = attrs.evolve(context, job=attrs.evolve(job, params={**job.params, "torch_device": "cuda:1"}))
    with nvml.installed():
        watchdog = gpu_watchdog(context)
        assert watchdog.device_index == 1
        assert isinstance(watchdog.check(), GpuMemoryWatchdogError)
        watchdog.stop()
