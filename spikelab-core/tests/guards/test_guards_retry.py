"""OOM retry: sorter OOM and GPU-watchdog trips retry with a smaller batch, down to the floor."""

from __future__ import annotations

import attrs
import pytest
from _guards_helpers import with_gpu

from spikelab.plugins import get_plugin_manager as plugins
from spikelab.spike_sorting._exceptions import (
    GpuMemoryWatchdogError,
    GPUOutOfMemoryError,
    InsufficientActivityError,
)
from spikelab.spike_sorting.backend import OomKnob
from spikelab.spike_sorting.child import run_in_child
from spikelab.spike_sorting.config import SortingPipelineConfig
from spikelab.spike_sorting.guards.retry import run_with_oom_retry
from spikelab.spike_sorting.guards.watch import build_watchdogs
from spikelab.spike_sorting.results import RecordingResult
from spikelab.testing.fake_backend import run as fake_run
from spikelab.testing.fake_nvml import FakeGpu, FakeNvml


def _sorting_attempt(make_job, backend, **flat):
    """One attempt = the fake sorter in a watched child, failures classified like the pipeline."""
    pm = plugins()

    def attempt(params):
        job, context = make_job(backend=backend, **flat)
        job = attrs.evolve(job, params=params)
        context = attrs.evolve(context, job=job)
        try:
            run_in_child(fake_run, job, sorter="fake", watchdogs=build_watchdogs(context, plugin_manager=plugins()))
        except Exception as exc:
            classified = pm.classify_failure("fake", job.sorter_folder, exc, job.log_path.read_text())
            if classified is None or classified is exc:
                raise
            raise classified from exc
        return params["batch_size"]

    return attempt


def test_sorter_oom_succeeds_after_one_halving(make_job, fake_backend_obj):
    flat = dict(fake_behaviour="gpu_oom", fake_oom_above_batch=40000, prevent_system_sleep=False)
    config = SortingPipelineConfig().override(sorter="fake", **flat)
    result = RecordingResult(rec_name="r", rec_path="r")
    used = run_with_oom_retry(
        _sorting_attempt(make_job, fake_backend_obj, **flat),
        backend=fake_backend_obj,
        params=fake_backend_obj.resolve_params(config),
        config=config,
        on_attempt=result.attempts.append,
    )
    assert used == 30000
    assert [(a.number, a.params["batch_size"], a.status) for a in result.attempts] == [
        (1, 60000, "oom_gpu"),
        (2, 30000, "success"),
    ]
    assert result.attempts[0].error_class == "GPUOutOfMemoryError"


def test_gpu_watchdog_trip_is_retried_like_a_sorter_oom(make_job, fake_backend_obj):
    backend = with_gpu(fake_backend_obj)
    flat = dict(
        host_ram_watchdog=False,
        disk_watchdog=False,
        io_stall_watchdog=False,
        gpu_poll_interval_s=0.1,
        fake_behaviour="hang",
        fake_hang_s=2.0,
    )
    config = SortingPipelineConfig().override(sorter="fake", **flat)
    inner = _sorting_attempt(make_job, backend, **flat)
    seen = []

    def attempt(params):  # GPU memory in use grows with the batch: 60000 -> 99 %, 30000 -> 50 %
        seen.append(params["batch_size"])
        used = 7.9 * params["batch_size"] / 60000
        with FakeNvml([FakeGpu(total_gb=8.0, used_gb=[(0.0, 0.5), (0.5, used)])]).installed():
            return inner(params)

    used = run_with_oom_retry(
        attempt,
        backend=backend,
        params=backend.resolve_params(config),
        config=config,
        on_attempt=lambda a: seen.append(a.status),
    )
    assert used == 30000
    assert seen == [60000, "oom_gpu", 30000, "success"]


def test_retry_stops_at_the_floor(fake_backend_obj):
    backend = attrs.evolve(fake_backend_obj, oom_knob=OomKnob(name="batch_size", default=60000, floor=20000))
    config = SortingPipelineConfig().override(sorter="fake", oom_retry_max=5)
    tried = []

    def always_oom(params):
        tried.append(params["batch_size"])
        raise GPUOutOfMemoryError("CUDA out of memory", sorter="fake")

    with pytest.raises(GPUOutOfMemoryError):
        run_with_oom_retry(always_oom, backend=backend, params={"batch_size": 60000}, config=config)
    assert tried == [60000, 30000]  # 15000 would be below the floor


def test_retry_stops_after_oom_retry_max_and_uses_the_configured_factor(fake_backend_obj):
    config = SortingPipelineConfig().override(sorter="fake", oom_retry_max=2, oom_retry_factor=0.25)
    tried, attempts = [], []

    def always_oom(params):
        tried.append(params["batch_size"])
        raise GpuMemoryWatchdogError("GPU full", sorter="fake", used_pct_at_trip=99.0, abort_pct=95.0)

    with pytest.raises(GpuMemoryWatchdogError):
        run_with_oom_retry(
            always_oom,
            backend=fake_backend_obj,
            params={"batch_size": 64000},
            config=config,
            on_attempt=attempts.append,
        )
    assert tried == [64000, 16000, 4000]
    assert [a.status for a in attempts] == ["oom_gpu"] * 3


def test_non_oom_failures_and_backends_without_a_knob_are_not_retried(fake_backend_obj):
    config = SortingPipelineConfig().override(sorter="fake")
    calls = []

    def silent(params):
        calls.append(params)
        raise InsufficientActivityError("no spikes", sorter="fake")

    with pytest.raises(InsufficientActivityError):
        run_with_oom_retry(silent, backend=fake_backend_obj, params={"batch_size": 60000}, config=config)
    assert len(calls) == 1

    def oom(params):
        calls.append(params)
        raise GPUOutOfMemoryError("CUDA out of memory")

    no_knob = attrs.evolve(fake_backend_obj, oom_knob=None)
    with pytest.raises(GPUOutOfMemoryError):
        run_with_oom_retry(oom, backend=no_knob, params={"batch_size": 60000}, config=config)
    assert len(calls) == 2
