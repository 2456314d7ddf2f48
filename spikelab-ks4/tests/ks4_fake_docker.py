"""A fake docker SDK client, the outermost boundary that cannot run here (no Docker engine).

``docker_client_factory="ks4_fake_docker.from_env"`` selects it; it is created in SpikeLab's sorter
child process, so it is steered by environment variables (inherited across the process boundary):

``KS4_FAKE_DOCKER_MODE``
    ``replay`` (default): the "container" streams the INFO lines of a real Kilosort4 run, as
    Kilosort's console handler prints them, and writes that run's real output files into the
    mounted sorter folder, then exits 0.
    ``execute``: runs the container command for real with this Python, container paths mapped
    back to the mounted host folders (so the entry script and Kilosort4 itself run).
    ``daemon_down``: the client fails like ``docker.from_env()`` without an engine.
    ``hang``: prints one line, then waits until ``stop()`` is called.
``KS4_FAKE_DOCKER_SOURCE``
    For ``replay``: a sorter folder of a real run (``sorter_output/`` with the phy files and
    Kilosort's own ``kilosort4.log``).
``KS4_FAKE_DOCKER_RECORD``
    A JSON-lines file where every call is recorded (``run``, ``stop``, ``wait``, ``remove``).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import threading
from pathlib import Path

_DAEMON_DOWN = (
    "Error while fetching server API version: ('Connection aborted.', "
    "FileNotFoundError(2, 'No such file or directory'))"
)


def _record(event: str, **payload) -> None:
    path = os.environ.get("KS4_FAKE_DOCKER_RECORD")
    if path:
        with open(path, "a") as handle:
            handle.write(json.dumps({"event": event, **payload}, default=str) + "\n")


class DockerException(Exception):
    """Stands in for ``docker.errors.DockerException`` (same message as the real one)."""


def _host_path(container_path: str, volumes: dict) -> str:
    for host, spec in volumes.items():
        bind = spec["bind"]
        if container_path == bind or container_path.startswith(bind + "/"):
            return host + container_path[len(bind) :]
    return container_path


class FakeContainer:
    def __init__(self, image: str, command: list[str], volumes: dict, mode: str) -> None:
        self.id = "fake0123456789"
        self.image = image
        self.command = command
        self.volumes = volumes
        self.mode = mode
        self.status_code = 0
        self._stopped = threading.Event()
        self._process: subprocess.Popen | None = None

    def _sorter_folder(self) -> Path:
        return Path(next(host for host, spec in self.volumes.items() if spec["mode"] == "rw"))

    def _replay(self):
        source = Path(os.environ["KS4_FAKE_DOCKER_SOURCE"]) / "sorter_output"
        for line in (source / "kilosort4.log").read_text().splitlines():
            match = re.match(r"^\S+ \S+ (\S+)\s+INFO\s+(.*)$", line)
            if match:  # Kilosort's console format: "<logger>: <message>"
                yield f"{match.group(1)}: {match.group(2)}\n".encode()
        target = self._sorter_folder() / "sorter_output"
        for item in source.iterdir():
            if item.is_file() and item.name != "kilosort4.log":
                shutil.copy2(item, target / item.name)
        self.status_code = 0

    def _execute(self):
        command = [sys.executable] + [_host_path(arg, self.volumes) for arg in self.command[1:]]
        job_file = Path(command[-1])
        job = json.loads(job_file.read_text())
        for key in ("filename", "results_dir"):
            job[key] = _host_path(job[key], self.volumes)
        job_file.write_text(json.dumps(job))
        self._process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        yield from self._process.stdout
        self.status_code = self._process.wait()

    def _hang(self):
        yield b"kilosort.run_kilosort: Computing drift correction.\n"
        while not self._stopped.wait(0.1):
            pass
        self.status_code = 137

    def logs(self, stream: bool = False, follow: bool = False):
        _record("logs", stream=stream, follow=follow)
        return {"replay": self._replay, "execute": self._execute, "hang": self._hang}[self.mode]()

    def wait(self):
        _record("wait", status_code=self.status_code)
        return {"StatusCode": self.status_code, "Error": None}

    def stop(self, timeout: float = 10):
        _record("stop", timeout=timeout)
        self._stopped.set()
        if self._process is not None and self._process.poll() is None:
            self._process.terminate()

    def remove(self, force: bool = False):
        _record("remove", force=force)


class FakeContainers:
    def __init__(self, mode: str) -> None:
        self.mode = mode

    def run(self, image, command=None, volumes=None, device_requests=None, detach=False, **kwargs):
        _record(
            "run",
            image=image,
            command=command,
            volumes=volumes,
            device_requests=device_requests,
            detach=detach,
            **kwargs,
        )
        for host in volumes or {}:
            if not Path(host).is_dir():
                raise DockerException(f"invalid mount config: bind source path does not exist: {host}")
        return FakeContainer(image, list(command), volumes or {}, self.mode)


class FakeDockerClient:
    def __init__(self, mode: str) -> None:
        self.containers = FakeContainers(mode)

    def ping(self) -> bool:
        return True


def from_env() -> FakeDockerClient:
    mode = os.environ.get("KS4_FAKE_DOCKER_MODE", "replay")
    if mode == "daemon_down":
        raise DockerException(_DAEMON_DOWN)
    return FakeDockerClient(mode)
