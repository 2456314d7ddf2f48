"""The Docker variant: the same ``run_kilosort`` call, inside the Kilosort4 image.

The recording's binary folder is mounted read-only and the sorter folder read-write; the
container runs :mod:`spikelab_ks4.container_entry` (copied into the sorter folder) with a JSON
job. A GPU is requested when one is wanted and present; the container's log is streamed into
``kilosort4.log`` as it runs; SIGTERM (a watchdog stopping the sort) stops the container.

The docker client comes from the ``docker_client_factory`` parameter, a dotted path called
without arguments (default ``docker.from_env``), so tests can pass a fake across the process
boundary.
"""

from __future__ import annotations

import contextlib
import importlib
import json
import os
import shutil
import signal
from pathlib import Path
from typing import Any

import structlog

from spikelab.atomic import write_text
from spikelab.spike_sorting import _exceptions as ex
from spikelab.spike_sorting.backend import SortJob
from spikelab_ks4.params import DEFAULT_IMAGE, KilosortCall
from spikelab_ks4.runner import KilosortInputs, fresh_results_folder

log = structlog.get_logger("spikelab_ks4")

CONTAINER_RECORDING = "/spikelab/recording"
CONTAINER_SORTER = "/spikelab/sorter"
ENTRY_NAME = "spikelab_ks4_entry.py"
JOB_NAME = "spikelab_ks4_job.json"


class ContainerSortError(RuntimeError):
    """Kilosort4 failed inside the container; the message ends with the container's last lines."""


def make_client(factory_path: str):
    """Call the ``module.attribute`` factory and check the engine answers.

    Raises
    ------
    DockerEnvironmentError
        When the docker SDK is missing or the engine cannot be reached.
    """
    module_name, _, attribute = factory_path.rpartition(".")
    try:
        factory = getattr(importlib.import_module(module_name), attribute)
    except ImportError as exc:
        raise ex.DockerEnvironmentError(
            f"Cannot import {factory_path!r} ({exc}). Install the docker SDK: "
            "`pip install spikelab-ks4[docker]`.",
            sorter="kilosort4",
            reason="client_missing",
            matched_line=str(exc),
        ) from exc
    try:
        client = factory()
        client.ping()
    except Exception as exc:
        raise ex.DockerEnvironmentError(
            f"The Docker engine is not reachable ({type(exc).__name__}: {exc}). Start it "
            "(`sudo systemctl start docker`) and check you may use it (the docker group).",
            sorter="kilosort4",
            reason="daemon_down",
            matched_line=f"{type(exc).__name__}: {exc}",
        ) from exc
    return client


def host_gpu_count() -> int:
    """NVIDIA GPUs on this host, through NVML (0 when NVML is missing or finds none)."""
    from spikelab.spike_sorting.gpus import count_nvidia_gpus

    return count_nvidia_gpus()


def gpu_requests(torch_device: str) -> tuple[list[dict[str, Any]], str]:
    """Docker device requests for ``torch_device``, and the device the container should use.

    ``"cuda:N"`` requests host GPU N (the container sees it as ``cuda``); ``"cuda"`` GPU 0;
    ``"auto"`` GPU 0 when the host has one; ``"cpu"`` none.
    """
    name = str(torch_device).lower()
    if name == "cpu":
        return [], "cpu"
    if name.startswith("cuda:"):
        ids = [name.split(":", 1)[1]]
    elif name == "cuda" or (name == "auto" and host_gpu_count() > 0):
        ids = ["0"]
    else:
        return [], "cpu"
    return [{"device_ids": ids, "capabilities": [["gpu"]]}], "cuda"


def write_container_job(job: SortJob, call: KilosortCall, inputs: KilosortInputs, device: str) -> list[str]:
    """Copy the entry script and write the JSON job into the sorter folder; return the command."""
    shutil.copyfile(Path(__file__).with_name("container_entry.py"), job.sorter_folder / ENTRY_NAME)
    payload = {
        "settings": inputs.settings,
        "probe": {
            key: (value.tolist() if hasattr(value, "tolist") else value)
            for key, value in inputs.probe.items()
        },
        "filename": f"{CONTAINER_RECORDING}/{inputs.binary_file.name}",
        "data_dtype": inputs.data_dtype,
        "results_dir": f"{CONTAINER_SORTER}/sorter_output",
        "device": device,
        "run_arguments": call.run_arguments,
    }
    write_text(job.sorter_folder / JOB_NAME, json.dumps(payload, indent=1))
    return ["python", f"{CONTAINER_SORTER}/{ENTRY_NAME}", f"{CONTAINER_SORTER}/{JOB_NAME}"]


@contextlib.contextmanager
def _stop_on_sigterm(container, timeout_s: float):
    """While inside, SIGTERM stops the container before this process exits."""

    def handler(signum, frame):
        log.warning("kilosort4_container_stopping", signal=signum, container=getattr(container, "id", None))
        with contextlib.suppress(Exception):
            container.stop(timeout=timeout_s)
        raise SystemExit(128 + signum)

    try:
        previous = signal.signal(signal.SIGTERM, handler)
    except ValueError:  # not the main thread: nothing to install
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def run_in_docker(job: SortJob, call: KilosortCall, inputs: KilosortInputs) -> dict[str, Any]:
    """Run Kilosort4 in its container; returns what the run record keeps.

    Raises
    ------
    DockerEnvironmentError
        When the engine is unreachable or the image cannot be had.
    ContainerSortError
        When Kilosort4 fails in the container (the log holds its traceback).
    """
    client = make_client(call.options["docker_client_factory"])
    image = job.config.sorter.docker_image or DEFAULT_IMAGE
    device_requests, device = gpu_requests(call.options["torch_device"])
    fresh_results_folder(job.sorter_folder)
    command = write_container_job(job, call, inputs, device)
    volumes = {
        str(inputs.binary_file.parent): {"bind": CONTAINER_RECORDING, "mode": "ro"},
        str(job.sorter_folder.resolve()): {"bind": CONTAINER_SORTER, "mode": "rw"},
    }
    user = f"{os.getuid()}:{os.getgid()}" if hasattr(os, "getuid") else None
    log.info("kilosort4_container_start", image=image, device=device, volumes=volumes, command=command)
    try:
        container = client.containers.run(
            image,
            command=command,
            volumes=volumes,
            device_requests=device_requests or None,
            environment={
                "HOME": "/tmp",
                "MPLCONFIGDIR": "/tmp",
                "NUMBA_CACHE_DIR": "/tmp",
                "PYTHONUNBUFFERED": "1",
            },
            working_dir=CONTAINER_SORTER,
            user=user,
            detach=True,
        )
    except Exception as exc:
        text = f"{type(exc).__name__}: {exc}"
        reason = (
            "image_pull_failed" if "NotFound" in type(exc).__name__ or "pull" in text.lower() else "other"
        )
        raise ex.DockerEnvironmentError(
            f"Could not start the Kilosort4 container from {image!r} ({text}). Check the image "
            "name (docker_image) and that it can be pulled.",
            sorter="kilosort4",
            reason=reason,
            image=image,
            matched_line=text,
        ) from exc
    tail: list[str] = []
    try:
        with _stop_on_sigterm(container, float(call.options["docker_stop_timeout_s"])):
            with open(job.log_path, "a", encoding="utf-8") as log_file:
                pending = ""
                for chunk in container.logs(stream=True, follow=True):
                    pending += chunk.decode("utf-8", errors="replace") if isinstance(chunk, bytes) else chunk
                    *lines, pending = pending.split("\n")
                    for line in lines:
                        log_file.write(line + "\n")
                        tail = (tail + [line])[-40:]
                    log_file.flush()
                if pending:
                    log_file.write(pending + "\n")
                    tail.append(pending)
            status = container.wait()
    except BaseException:
        with contextlib.suppress(Exception):
            container.stop(timeout=float(call.options["docker_stop_timeout_s"]))
        raise
    finally:
        with contextlib.suppress(Exception):
            container.remove(force=True)
    code = int(status.get("StatusCode", 1)) if isinstance(status, dict) else int(status)
    if code != 0:
        raise ContainerSortError(
            f"Kilosort4 exited with code {code} in container {image!r}. Last lines:\n" + "\n".join(tail[-15:])
        )
    return {"device": device, "image": image, "device_requests": device_requests}
