"""Kilosort2 in SpikeInterface's MATLAB-compiled image, through the Docker SDK.

The host writes the int16 binary, ``chanMap.mat`` and ``ops.mat``; the container (the MATLAB
Runtime, no licence needed) runs ``ks2_compiled <output folder>``, which loads both files from
that folder and writes the phy files next to them. The binary's folder is mounted read-only, the
sorter folder read-write; the container gets the GPU(s) through a device request. The image pull
and the container's log stream into ``kilosort2.log``; SIGTERM stops the container. The container
runs as root (the MATLAB Runtime wants a writable home), then hands the output back to the host
user with ``chown``.
"""

from __future__ import annotations

import contextlib
import os
import re
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import structlog

from spikelab.spike_sorting import _exceptions as ex
from spikelab_ks2 import _runlog
from spikelab_ks2.environment import load_callable, raise_if_not_ready
from spikelab_ks2.params import (
    COMPILED_ENTRY,
    DEFAULT_DOCKER_IMAGE,
    DEFAULT_PARAMS,
    NAME,
    build_ops,
    param_problems,
)
from spikelab_ks2.recording_io import prepare_binary
from spikelab_ks2.script import write_channel_map, write_ops_mat

if TYPE_CHECKING:
    from spikelab.spike_sorting.backend import SortJob

log = structlog.get_logger("spikelab.ks2")

CONTAINER_OUTPUT = "/spikelab/output"
CONTAINER_INPUT = "/spikelab/input"
#: Lets the MATLAB Runtime's CUDA libraries run on drivers newer than they were built for.
CONTAINER_ENV = {"MW_CUDA_FORWARD_COMPATIBILITY": "1"}

_REASONS = (
    ("client_missing", re.compile(r"No module named ['\"]?docker", re.I)),
    ("permission_denied", re.compile(r"permission denied", re.I)),
    ("nvidia_runtime_missing", re.compile(r"could not select device driver .* with capabilities: \[\[gpu\]\]", re.I)),
    (
        "image_pull_failed",
        re.compile(r"manifest unknown|pull access denied|not found|ImageNotFound|failed to resolve reference", re.I),
    ),
    (
        "daemon_down",
        re.compile(
            r"Error while fetching server API version|Cannot connect to the Docker daemon|Connection refused"
            r"|No such file or directory|Connection aborted",
            re.I,
        ),
    ),
)
_ADVICE = {
    "client_missing": "install the Docker SDK: `pip install spikelab-ks2[docker]`",
    "permission_denied": "add your user to the docker group (then log in again) or run where Docker is allowed",
    "nvidia_runtime_missing": "install the NVIDIA Container Toolkit and restart Docker, so containers can use the GPU",
    "image_pull_failed": "check the image name (docker_image=...) and your network / registry login",
    "daemon_down": "start the Docker engine (`sudo systemctl start docker`, or Docker Desktop)",
    "other": "check `docker info` and the Docker engine's log",
}


def docker_error(exc: BaseException, image: str | None, action: str) -> ex.DockerEnvironmentError:
    """A :class:`DockerEnvironmentError` for an SDK failure, with its reason and the fix."""
    text = f"{type(exc).__name__}: {exc}"
    reason = next((name for name, pattern in _REASONS if pattern.search(text)), "other")
    return ex.DockerEnvironmentError(
        f"Docker failed while {action} ({text}); {_ADVICE[reason]}.",
        sorter=NAME,
        stage="sort",
        matched_line=text.splitlines()[0] if text else None,
        reason=reason,
        image=image,
    )


def split_image(image: str) -> tuple[str, str]:
    """``"repo/name:tag"`` -> ``("repo/name", "tag")`` (tag ``latest`` when absent)."""
    name, _, tag = image.rpartition(":")
    if not name or "/" in tag:
        return image, "latest"
    return name, tag


def make_client(params: dict[str, Any]) -> Any:
    factory_path = str(params.get("docker_client_factory") or "docker.from_env")
    try:
        factory = load_callable(factory_path)
    except ImportError as exc:
        raise docker_error(exc, None, "importing the Docker SDK") from exc
    try:
        client = factory()
        client.ping()
    except Exception as exc:  # DockerException, requests' ConnectionError, OSError
        raise docker_error(exc, None, "connecting to the Docker engine") from exc
    return client


def _pull(client: Any, repository: str, tag: str, sorter_log: _runlog.SorterLog | None) -> None:
    """Pull one tag; with the low-level API, progress goes to the sorter log (the inactivity
    watchdog sees a long pull as progress, not as a hang)."""
    api = getattr(client, "api", None)
    if api is None or sorter_log is None:
        client.images.pull(repository, tag=tag)
        return
    last: dict[str, str] = {}
    for event in api.pull(repository, tag=tag, stream=True, decode=True):
        if event.get("error"):
            raise RuntimeError(event["error"])
        layer, status = str(event.get("id", "")), str(event.get("status", ""))
        if status and last.get(layer) != status:
            last[layer] = status
            sorter_log.write(f"docker pull {repository}:{tag}: {layer} {status}\n".replace("  ", " "))


def ensure_image(client: Any, image: str, pull: bool, sorter_log: _runlog.SorterLog | None = None) -> None:
    """Make sure ``image`` is present, pulling it (one tag, never all) when allowed."""
    try:
        client.images.get(image)
        return
    except Exception as exc:
        if type(exc).__name__ != "ImageNotFound":
            raise docker_error(exc, image, "looking up the image") from exc
        missing = exc
    if not pull:
        raise docker_error(missing, image, "looking up the image (docker_pull=False)")
    repository, tag = split_image(image)
    log.info("ks2_docker_pull", image=image)
    try:
        _pull(client, repository, tag, sorter_log)
    except Exception as exc:
        raise docker_error(exc, image, "pulling the image") from exc


def container_command(owner: str | None) -> list[str]:
    """The compiled Kilosort2 entry; with ``owner`` ("uid:gid") the output is handed back to the
    host user afterwards (the container runs as root, and root-owned files would block the
    next attempt's clean-up)."""
    if owner is None:
        return [COMPILED_ENTRY, CONTAINER_OUTPUT]
    script = f'{COMPILED_ENTRY} "$0"; status=$?; chown -R "$1" "$0"; exit $status'
    return ["sh", "-c", script, CONTAINER_OUTPUT, owner]


def host_owner() -> str | None:
    """``"uid:gid"`` of this process, or None where there are no POSIX ids (Windows)."""
    if not hasattr(os, "getuid"):
        return None
    return f"{os.getuid()}:{os.getgid()}"


def gpu_request(device_ids: list[str | int] | None) -> Any:
    """The device request giving the container the GPUs (all of them unless ids are given)."""
    try:
        from docker.types import DeviceRequest
    except ImportError:  # a factory-provided client without the SDK: the engine API takes plain dicts
        def DeviceRequest(**kw):  # noqa: N802 - mirrors the SDK's class
            return {"Count": kw.get("count", 0), "DeviceIDs": kw.get("device_ids"), "Capabilities": kw["capabilities"]}
    if device_ids:
        return DeviceRequest(device_ids=[str(d) for d in device_ids], capabilities=[["gpu"]])
    return DeviceRequest(count=-1, capabilities=[["gpu"]])


def container_binary_path(binary_path: Path, folder: Path) -> tuple[str, dict[str, dict[str, str]]]:
    """Where the container sees the binary, and the volumes that make it so."""
    volumes = {str(folder): {"bind": CONTAINER_OUTPUT, "mode": "rw"}}
    if binary_path.parent == folder:
        return f"{CONTAINER_OUTPUT}/{binary_path.name}", volumes
    volumes[str(binary_path.parent)] = {"bind": CONTAINER_INPUT, "mode": "ro"}
    return f"{CONTAINER_INPUT}/{binary_path.name}", volumes


def _stop_container(container: Any) -> None:
    with contextlib.suppress(Exception):
        container.stop(timeout=10)


def run_container(client: Any, image: str, *, volumes: dict, params: dict, sorter_log: _runlog.SorterLog) -> int:
    """Run the compiled Kilosort2, streaming its log; the container is always removed."""
    owner = host_owner() if params.get("docker_chown_output", True) else None
    try:
        container = client.containers.run(
            image,
            command=container_command(owner),
            detach=True,
            volumes=volumes,
            working_dir=CONTAINER_OUTPUT,
            environment=dict(CONTAINER_ENV),
            device_requests=[gpu_request(params.get("docker_gpu_device_ids"))],
            labels={"spikelab.sorter": NAME},
        )
    except Exception as exc:
        raise docker_error(exc, image, "starting the container") from exc
    log.info("ks2_container_started", image=image, container=getattr(container, "id", None))
    try:
        with _runlog.stop_on_sigterm(lambda: _stop_container(container)):
            for chunk in container.logs(stream=True, follow=True):
                sorter_log.write(chunk)
            result = container.wait()
    finally:
        _stop_container(container)
        with contextlib.suppress(Exception):
            container.remove(force=True)
    return int(result.get("StatusCode", 1)) if isinstance(result, dict) else int(result)


def run_docker(job: SortJob) -> None:
    """Sort ``job`` with Kilosort2 in its Docker image (the backend's runner when ``use_docker`` is on).

    Raises
    ------
    DockerEnvironmentError
        When the SDK, the engine, the image or the GPU runtime is not usable.
    SorterProcessError
        When the container exits with a non-zero status or writes no phy output.
    """
    import spikeinterface as si

    params = dict(DEFAULT_PARAMS)
    params.update(job.params)
    folder = job.sorter_folder.resolve()
    folder.mkdir(parents=True, exist_ok=True)
    raise_if_not_ready(param_problems(params), dependency="Kilosort2 parameters")
    image = job.config.sorter.docker_image or DEFAULT_DOCKER_IMAGE
    client = make_client(params)
    with _runlog.SorterLog(folder, job.log_path, f"Docker image {image}") as sorter_log:
        ensure_image(client, image, bool(params.get("docker_pull", True)), sorter_log)
        binary = prepare_binary(si.load(job.recording_folder), folder, seed=job.config.execution.random_seed)
        write_channel_map(folder, binary.locations, binary.sampling_frequency)
        inside_path, volumes = container_binary_path(binary.path, folder)
        ops = build_ops(
            params,
            num_channels=binary.num_channels,
            sampling_frequency=binary.sampling_frequency,
            binary_path=inside_path,
            output_folder=CONTAINER_OUTPUT,
        )
        write_ops_mat(folder, ops)
        _runlog.write_run_record(
            folder,
            {
                "how": "docker",
                "image": image,
                "params": params,
                "ops": {k: v for k, v in ops.items() if k != "trange"},
                "binary_path": str(binary.path),
                "binary_copied": binary.copied,
                "gain_to_int16": binary.gain_to_int16,
                "channel_ids": binary.channel_ids,
                "volumes": volumes,
            },
        )
        started = time.monotonic()
        exit_code = run_container(client, image, volumes=volumes, params=params, sorter_log=sorter_log)
        log.info("ks2_container_finished", exit_code=exit_code, seconds=round(time.monotonic() - started, 1))
        if exit_code != 0:
            raise _runlog.failure(sorter_log, exit_code, f"Docker image {image}")
        _runlog.check_outputs(folder, sorter_log, f"Docker image {image}")
    _runlog.remove_temp_files(folder, bool(params.get("delete_temp_wh", True)))
