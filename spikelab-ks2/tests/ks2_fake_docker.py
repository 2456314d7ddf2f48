"""A fake Docker SDK client (``docker_client_factory="ks2_fake_docker.make_client"``).

It stands in for the Docker engine only: the SDK's own exception classes are raised with the
engine's real messages, and the "container" runs the compiled Kilosort2 entry the way
SpikeInterface's ``kilosort2_master.m`` does (``ks2_compiled <folder>`` loads ``ops.mat`` and
``chanMap.mat`` from that folder; on error it prints 40 dashes immediately followed by the error
text and quits with 1), through :mod:`ks2_fake_engine`, translating container paths back to the
host through the mounts it was given.

``SPIKELAB_FAKE_DOCKER``: ok (default), daemon_down, permission_denied, pull_denied, no_gpu_runtime.
``SPIKELAB_FAKE_DOCKER_HAS_IMAGE=1`` makes the image present locally (else it is pulled).
Every call is appended as JSON to ``$SPIKELAB_FAKE_DOCKER_CALLS`` when set.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import docker.errors
import ks2_fake_engine
import numpy as np

COMPILED_ENTRY = "ks2_compiled"


def _record(event: str, **data) -> None:
    path = os.environ.get("SPIKELAB_FAKE_DOCKER_CALLS")
    if path:
        with open(path, "a") as handle:
            handle.write(json.dumps({"event": event, **data}, default=str) + "\n")


def _behaviour() -> str:
    return os.environ.get("SPIKELAB_FAKE_DOCKER", "ok")


class FakeImages:
    def __init__(self) -> None:
        self.present = os.environ.get("SPIKELAB_FAKE_DOCKER_HAS_IMAGE") == "1"

    def get(self, name: str):
        _record("images.get", name=name)
        if not self.present:
            raise docker.errors.ImageNotFound(f"No such image: {name}")
        return {"Id": "sha256:fake"}

    def pull(self, repository: str, tag: str | None = None, **kwargs):
        _record("images.pull", repository=repository, tag=tag)
        if _behaviour() == "pull_denied":
            raise docker.errors.NotFound(
                f'404 Client Error for http+docker://localhost/v1.45/images/create?tag={tag}&fromImage={repository}: '
                f'Not Found ("pull access denied for {repository}, repository does not exist or may require '
                "'docker login': denied: requested access to the resource is denied\")"
            )
        self.present = True
        return {"Id": "sha256:fake"}


class FakeAPI:
    """The low-level client's streaming pull (events as the engine sends them, decoded)."""

    def __init__(self, images: FakeImages) -> None:
        self._images = images

    def pull(self, repository: str, tag: str | None = None, stream: bool = False, decode: bool = False, **kwargs):
        _record("api.pull", repository=repository, tag=tag, stream=stream, decode=decode)
        if _behaviour() == "pull_denied":
            self._images.pull(repository, tag)  # raises the engine's 404 before any event
        events = [{"status": f"Pulling from {repository}", "id": tag}]
        for layer in ("a3ed95caeb02", "5f70bf18a086"):
            events += [
                {"status": "Pulling fs layer", "progressDetail": {}, "id": layer},
                {
                    "status": "Downloading",
                    "progressDetail": {"current": 1, "total": 2},
                    "progress": "[==>  ]",
                    "id": layer,
                },
                {
                    "status": "Downloading",
                    "progressDetail": {"current": 2, "total": 2},
                    "progress": "[=====>]",
                    "id": layer,
                },
                {"status": "Download complete", "progressDetail": {}, "id": layer},
                {"status": "Pull complete", "progressDetail": {}, "id": layer},
            ]
        events += [
            {"status": "Digest: sha256:5b1f5f0d6bd5c4d9d1c3cf8e1f0a8f3b2b4f7c8e9d0a1b2c3d4e5f6a7b8c9d0e"},
            {"status": f"Status: Downloaded newer image for {repository}:{tag}"},
        ]
        self._images.present = True
        return iter(events)


class FakeContainer:
    def __init__(self, image: str, command: list[str], volumes: dict) -> None:
        self.id = "f4k3c0nta1ner"
        self.image, self.command, self.volumes = image, command, volumes
        self.exit_code: int | None = None
        self.stopped = self.removed = False

    def _to_host(self, container_path: str) -> Path:
        for host, spec in self.volumes.items():
            bind = spec["bind"].rstrip("/")
            if container_path == bind or container_path.startswith(bind + "/"):
                return Path(host) / container_path[len(bind) :].lstrip("/")
        raise FileNotFoundError(f"{container_path} is not inside any mount {self.volumes}")

    def _run(self):
        import scipy.io

        if self.command[0] == "sh":  # sh -c '<entry> "$0"; ...; chown -R "$1" "$0"' <folder> <owner>
            _, flag, script, folder, owner = self.command
            assert flag == "-c" and script.startswith(COMPILED_ENTRY + ' "$0"') and 'chown -R "$1" "$0"' in script
        else:
            (entry, folder), owner = self.command, None
            assert entry == COMPILED_ENTRY, self.command
        output = self._to_host(folder)
        mat = scipy.io.loadmat(str(output / "ops.mat"), simplify_cells=True)["ops"]
        ops = {k: (v.tolist() if isinstance(v, np.ndarray) else v) for k, v in mat.items()}
        lines: list[str] = []
        try:
            ks2_fake_engine.run(
                ops, output, self._to_host(ops["fbinary"]), self._to_host(ops["chanMap"]), lines.append
            )
            self.exit_code = 0
        except ks2_fake_engine.FakeKilosortError as exc:
            lines.append(ks2_fake_engine.DASHES + str(exc))
            self.exit_code = 1
        except FileNotFoundError as exc:
            lines.append(ks2_fake_engine.DASHES + f"Could not open {exc.filename} for reading.")
            self.exit_code = 1
        if owner is not None:
            _record("container.chown", owner=owner, folder=folder)
        for line in lines:
            yield (line + "\n").encode()

    def logs(self, stream: bool = False, follow: bool = False):
        _record("container.logs", stream=stream, follow=follow)
        return self._run()

    def wait(self, **kwargs):
        if self.exit_code is None:
            for _ in self._run():
                pass
        return {"StatusCode": self.exit_code, "Error": None}

    def stop(self, timeout: int = 10):
        _record("container.stop", timeout=timeout)
        self.stopped = True

    def remove(self, force: bool = False):
        _record("container.remove", force=force)
        self.removed = True


class FakeContainers:
    def run(self, image: str, command=None, detach: bool = False, volumes=None, device_requests=None, **kwargs):
        _record(
            "containers.run",
            image=image,
            command=command,
            detach=detach,
            volumes=volumes,
            device_requests=[dict(d) for d in device_requests or []],
            environment=kwargs.get("environment"),
        )
        if _behaviour() == "no_gpu_runtime":
            raise docker.errors.APIError(
                "500 Server Error for http+docker://localhost/v1.45/containers/f4k3/start: Internal Server "
                'Error ("could not select device driver "" with capabilities: [[gpu]]")'
            )
        assert detach, "spikelab-ks2 must run the container detached to stream its log"
        return FakeContainer(image, list(command), dict(volumes or {}))


class FakeDockerClient:
    def __init__(self) -> None:
        self.images = FakeImages()
        self.containers = FakeContainers()
        self.api = FakeAPI(self.images)

    def ping(self) -> bool:
        return True


def make_client() -> FakeDockerClient:
    """The factory spikelab-ks2 calls instead of ``docker.from_env``."""
    behaviour = _behaviour()
    _record("from_env", behaviour=behaviour)
    if behaviour == "daemon_down":
        raise docker.errors.DockerException(
            "Error while fetching server API version: ('Connection aborted.', "
            "FileNotFoundError(2, 'No such file or directory'))"
        )
    if behaviour == "permission_denied":
        raise docker.errors.DockerException(
            "Error while fetching server API version: ('Connection aborted.', "
            "PermissionError(13, 'Permission denied'))"
        )
    return FakeDockerClient()
