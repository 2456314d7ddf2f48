"""The Docker variant against a fake docker client (no engine here) that replays a real run."""

from __future__ import annotations

import json
import time

import pytest
from ks4_helpers import make_job

from spikelab.spike_sorting import _exceptions as ex
from spikelab_ks4 import classify_ks4_failure, read_sorting
from spikelab_ks4.docker import ContainerSortError
from spikelab_ks4.runner import run

FACTORY = "ks4_fake_docker.from_env"


@pytest.fixture
def fake_docker(monkeypatch, tmp_path, reference_sort):
    record = tmp_path / "docker_calls.jsonl"
    monkeypatch.setenv("KS4_FAKE_DOCKER_RECORD", str(record))
    monkeypatch.setenv("KS4_FAKE_DOCKER_SOURCE", str(reference_sort))
    monkeypatch.setenv("KS4_FAKE_DOCKER_MODE", "replay")

    def calls():
        if not record.is_file():
            return []
        return [json.loads(line) for line in record.read_text().splitlines()]

    return calls


def _docker_job(recording_folder, sorter_folder, **overrides):
    return make_job(
        recording_folder,
        sorter_folder,
        use_docker=True,
        nblocks=0,
        docker_client_factory=FACTORY,
        **overrides,
    )


def test_container_run_across_the_process_boundary(fake_docker, ground_truth, reference_sort, tmp_path):
    from spikelab.spike_sorting.child import run_in_child

    recording_folder, _ = ground_truth
    job = _docker_job(recording_folder, tmp_path / "sorter", docker_image="example/ks4:test")
    run_in_child(run, job, sorter="kilosort4")

    calls = fake_docker()
    started = next(call for call in calls if call["event"] == "run")
    assert started["image"] == "example/ks4:test"
    assert started["volumes"][str(recording_folder)] == {"bind": "/spikelab/recording", "mode": "ro"}
    assert started["volumes"][str(job.sorter_folder.resolve())]["mode"] == "rw"
    assert started["device_requests"] is None  # no GPU on this host
    assert started["command"][-1] == "/spikelab/sorter/spikelab_ks4_job.json"
    assert [call["event"] for call in calls][-1] == "remove"

    container_job = json.loads((job.sorter_folder / "spikelab_ks4_job.json").read_text())
    assert container_job["filename"] == "/spikelab/recording/traces_cached_seg0.raw"
    assert container_job["settings"]["nblocks"] == 0 and container_job["device"] == "cpu"

    log_text = job.log_path.read_text()
    assert "kilosort.run_kilosort: Kilosort version 4.1." in log_text
    assert "units found with good refractory periods" in log_text
    reference = read_sorting(reference_sort)
    assert read_sorting(job.sorter_folder).get_num_units() == reference.get_num_units()
    assert json.loads((job.sorter_folder / "spikelab_run.json").read_text())["docker"] is True


def test_explicit_gpu_is_requested_and_seen_as_cuda_inside(fake_docker, ground_truth, tmp_path):
    recording_folder, _ = ground_truth
    job = _docker_job(recording_folder, tmp_path / "sorter", torch_device="cuda:1")
    run(job)
    started = next(call for call in fake_docker() if call["event"] == "run")
    assert started["device_requests"] == [{"device_ids": ["1"], "capabilities": [["gpu"]]}]
    assert json.loads((job.sorter_folder / "spikelab_ks4_job.json").read_text())["device"] == "cuda"


def test_engine_down_is_a_docker_environment_failure(fake_docker, monkeypatch, ground_truth, tmp_path):
    from spikelab.plugins import get_plugin_manager

    monkeypatch.setenv("KS4_FAKE_DOCKER_MODE", "daemon_down")
    recording_folder, _ = ground_truth
    job = _docker_job(recording_folder, tmp_path / "sorter")
    with pytest.raises(ex.DockerEnvironmentError) as info:
        run(job)
    assert info.value.reason == "daemon_down" and info.value.status == "environment"
    assert "Error while fetching server API version" in info.value.matched_line
    problems = get_plugin_manager().sorter("kilosort4").check_environment(job.config)
    assert any("Docker engine is not reachable" in problem for problem in problems)


def test_failure_inside_the_container_is_classified_from_its_log(
    fake_docker, monkeypatch, noise_recording, tmp_path
):
    """The entry script and Kilosort4 run for real (paths mapped) on a noise-only recording."""
    monkeypatch.setenv("KS4_FAKE_DOCKER_MODE", "execute")
    job = _docker_job(noise_recording, tmp_path / "sorter")
    with pytest.raises(ContainerSortError, match="exited with code 1") as info:
        run(job)
    classified = classify_ks4_failure(job.sorter_folder, info.value)
    assert isinstance(classified, ex.InsufficientActivityError)
    assert classified.threshold_crossings == 0
    assert "Computing preprocessing variables." in job.log_path.read_text()


class _TripWhenContainerStreams:
    """A watchdog that stops the sort once the container has started streaming its log."""

    name = "test_trip"

    def __init__(self, calls):
        self.calls = calls

    def start(self, pid):
        pass

    def tripped(self):
        if any(call["event"] == "logs" for call in self.calls()):
            return ex.SorterTimeoutError("stopped by the test", sorter="kilosort4", inactivity_s=0.0)
        return None

    def stop(self):
        pass


def test_sigterm_to_the_sorter_process_stops_the_container(fake_docker, monkeypatch, ground_truth, tmp_path):
    from spikelab.spike_sorting.child import run_in_child

    monkeypatch.setenv("KS4_FAKE_DOCKER_MODE", "hang")
    recording_folder, _ = ground_truth
    job = _docker_job(recording_folder, tmp_path / "sorter")
    with pytest.raises(ex.SorterTimeoutError):
        run_in_child(run, job, sorter="kilosort4", watchdogs=[_TripWhenContainerStreams(fake_docker)])
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and "stop" not in [c["event"] for c in fake_docker()]:
        time.sleep(0.1)
    assert "stop" in [call["event"] for call in fake_docker()]


def test_auto_device_requests_a_gpu_only_when_nvml_finds_one():
    from spikelab.testing.fake_nvml import FakeGpu, FakeNvml
    from spikelab_ks4.docker import gpu_requests

    with FakeNvml([FakeGpu(total_gb=8.0)]).installed():
        assert gpu_requests("auto") == ([{"device_ids": ["0"], "capabilities": [["gpu"]]}], "cuda")
        assert gpu_requests("cpu") == ([], "cpu")
    with FakeNvml(library_found=False).installed():
        assert gpu_requests("auto") == ([], "cpu")
        assert gpu_requests("cuda") == ([{"device_ids": ["0"], "capabilities": [["gpu"]]}], "cuda")
