"""The Docker route against a fake Docker client (the engine is the only fake)."""

from __future__ import annotations

import os
import signal

import ks2_fake_docker
import pytest
import scipy.io

from spikelab.spike_sorting import _exceptions as ex
from spikelab_ks2 import _runlog, docker_runner, plugin
from spikelab_ks2.params import DEFAULT_DOCKER_IMAGE

FACTORY = "ks2_fake_docker.make_client"


def _calls(fake_docker, event):
    return [call for call in fake_docker() if call["event"] == event]


def test_compiled_image_sorts_with_gpu_and_read_only_input(ground_truth, fake_docker, make_job):
    job = make_job(ground_truth["int16_folder"], use_docker=True, docker_client_factory=FACTORY)
    plugin.run(job)

    (pull,) = _calls(fake_docker, "api.pull")
    assert (pull["repository"], pull["tag"]) == (DEFAULT_DOCKER_IMAGE.split(":")[0], "latest")
    log_text = (job.sorter_folder / "kilosort2.log").read_text()
    assert "Pull complete" in log_text, "pull progress reaches the log the inactivity watchdog reads"
    (run,) = _calls(fake_docker, "containers.run")
    assert run["image"] == DEFAULT_DOCKER_IMAGE
    assert run["command"][:2] == ["sh", "-c"] and run["command"][3] == docker_runner.CONTAINER_OUTPUT
    (chown,) = _calls(fake_docker, "container.chown")
    assert chown["owner"] == f"{os.getuid()}:{os.getgid()}", "output is handed back to the host user"
    modes = {spec["bind"]: spec["mode"] for spec in run["volumes"].values()}
    assert modes == {docker_runner.CONTAINER_OUTPUT: "rw", docker_runner.CONTAINER_INPUT: "ro"}
    assert str(ground_truth["int16_folder"].resolve()) in run["volumes"]
    (request,) = run["device_requests"]
    assert request["Capabilities"] == [["gpu"]] and request["Count"] == -1
    assert run["environment"]["MW_CUDA_FORWARD_COMPATIBILITY"] == "1"
    assert _calls(fake_docker, "container.remove"), "the container is removed afterwards"

    ops = scipy.io.loadmat(str(job.sorter_folder / "ops.mat"), simplify_cells=True)["ops"]
    assert ops["fbinary"].startswith(docker_runner.CONTAINER_INPUT + "/")
    assert ops["fproc"] == docker_runner.CONTAINER_OUTPUT + "/temp_wh.dat"
    sorting = plugin.read_sorting(job.sorter_folder)
    assert sorting.get_num_units() == ground_truth["sorting"].get_num_units()
    assert "Saving results to Phy" in log_text


def test_custom_image_and_pinned_gpu(ground_truth, fake_docker, make_job, monkeypatch):
    monkeypatch.setenv("SPIKELAB_FAKE_DOCKER_HAS_IMAGE", "1")
    job = make_job(
        ground_truth["float_folder"],
        use_docker=True,
        docker_image="lab/ks2-compiled:2024.1",
        docker_client_factory=FACTORY,
        docker_gpu_device_ids=[1],
        docker_chown_output=False,
    )
    plugin.run(job)

    assert not _calls(fake_docker, "api.pull"), "a present image is not pulled again"
    (run,) = _calls(fake_docker, "containers.run")
    assert run["command"] == ["ks2_compiled", docker_runner.CONTAINER_OUTPUT]
    assert run["image"] == "lab/ks2-compiled:2024.1"
    assert run["device_requests"][0]["DeviceIDs"] == ["1"]
    # the float recording was copied next to the output, so only the output folder is mounted
    assert [spec["bind"] for spec in run["volumes"].values()] == [docker_runner.CONTAINER_OUTPUT]
    assert (job.sorter_folder / "recording.dat").is_file()


@pytest.mark.parametrize(
    ("behaviour", "reason"),
    [
        ("daemon_down", "daemon_down"),
        ("permission_denied", "permission_denied"),
        ("pull_denied", "image_pull_failed"),
        ("no_gpu_runtime", "nvidia_runtime_missing"),
    ],
)
def test_docker_problems_are_environment_errors(ground_truth, fake_docker, make_job, monkeypatch, behaviour, reason):
    monkeypatch.setenv("SPIKELAB_FAKE_DOCKER", behaviour)
    job = make_job(ground_truth["int16_folder"], use_docker=True, docker_client_factory=FACTORY)
    with pytest.raises(ex.DockerEnvironmentError) as caught:
        plugin.run(job)
    assert caught.value.reason == reason
    assert caught.value.status == "environment"
    assert caught.value.matched_line


def test_failure_inside_the_container_is_classified(ground_truth, fake_docker, make_job, monkeypatch):
    monkeypatch.setenv("SPIKELAB_FAKE_KS2_MODE", "gpu_oom")
    job = make_job(ground_truth["int16_folder"], use_docker=True, docker_client_factory=FACTORY)
    with pytest.raises(ex.GPUOutOfMemoryError) as caught:
        plugin.run(job)
    assert "Out of memory on device" in caught.value.matched_line
    assert _calls(fake_docker, "container.remove")


def test_sigterm_stops_the_container(tmp_path):
    class SignalledContainer(ks2_fake_docker.FakeContainer):
        def logs(self, stream=False, follow=False):
            yield b"Time   0s. Determining good channels.. \n"
            os.kill(os.getpid(), signal.SIGTERM)
            yield b"never reached\n"

    class Containers:
        def run(self, image, command=None, **kwargs):
            self.container = SignalledContainer(image, command, kwargs["volumes"])
            return self.container

    client = ks2_fake_docker.FakeDockerClient()
    client.containers = Containers()
    previous = signal.getsignal(signal.SIGTERM)
    with _runlog.SorterLog(tmp_path, None, "test") as sorter_log, pytest.raises(SystemExit):
        docker_runner.run_container(client, "image", volumes={}, params={}, sorter_log=sorter_log)
    container = client.containers.container
    assert container.stopped and container.removed
    assert signal.getsignal(signal.SIGTERM) is previous, "the previous SIGTERM handler is restored"
    assert "never reached" not in (tmp_path / "kilosort2.log").read_text()


def test_image_names_split_into_repository_and_tag():
    assert docker_runner.split_image("spikeinterface/kilosort2-compiled-base") == (
        "spikeinterface/kilosort2-compiled-base",
        "latest",
    )
    assert docker_runner.split_image("registry:5000/lab/ks2:v1") == ("registry:5000/lab/ks2", "v1")
    assert docker_runner.split_image("registry:5000/lab/ks2") == ("registry:5000/lab/ks2", "latest")


def test_real_sdk_without_an_engine_is_reported_as_daemon_down():
    docker = pytest.importorskip("docker")
    try:
        docker.from_env(timeout=5).ping()
    except docker.errors.DockerException:
        pass
    else:
        pytest.skip("a Docker engine answers on this machine")
    with pytest.raises(ex.DockerEnvironmentError) as caught:
        docker_runner.make_client({"docker_client_factory": "docker.from_env"})
    assert caught.value.reason in ("daemon_down", "permission_denied")
    assert "start the Docker engine" in str(caught.value) or "docker group" in str(caught.value)
