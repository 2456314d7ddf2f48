"""SpikeLab plugin (entry point ``spikelab: kilosort4``): registers the Kilosort4 backend.

Importing this module is cheap: kilosort and torch are imported only in the sorter process.
"""

from __future__ import annotations

import importlib.util

from spikelab import hookimpl
from spikelab.plugins import distribution_version
from spikelab.spike_sorting.backend import OomKnob, SorterBackend
from spikelab_ks4.classifier import SORTER, classify_ks4_failure
from spikelab_ks4.parameters import Kilosort4Params
from spikelab_ks4.params import (
    BATCH_SIZE_FLOOR,
    DEFAULT_PARAMS,
    KS4_SETTINGS,
    RESERVED,
)
from spikelab_ks4.reader import read_sorting
from spikelab_ks4.runner import run


def check_environment(config) -> list[str]:
    """What is missing to run Kilosort4 with ``config`` (empty when ready)."""
    problems: list[str] = []  # parameter names and types were checked when the config was built
    params = {**DEFAULT_PARAMS, **config.sorter.sorter_params}
    if config.sorter.use_docker:
        from spikelab_ks4.docker import make_client

        try:
            make_client(params["docker_client_factory"])
        except Exception as exc:
            problems.append(str(exc))
        return problems
    for module, remedy in (
        ("torch", "install torch first (`pip install torch==2.13.0` for the CPU build, or a CUDA build)"),
        ("kilosort", "`pip install 'kilosort>=4.1.7,<4.2'`"),
    ):
        if importlib.util.find_spec(module) is None:
            problems.append(f"Kilosort4 needs the {module!r} package: {remedy}, or set use_docker=True.")
    if needs_gpu(config):
        from spikelab_ks4.docker import host_gpu_count

        if host_gpu_count() == 0:
            problems.append(
                f"torch_device={params['torch_device']!r} asks for a GPU, but NVML finds no NVIDIA GPU "
                "on this host. Use torch_device='auto' (the CPU when there is no GPU) or 'cpu'."
            )
    if not problems:
        installed = distribution_version("kilosort", None)
        if installed and not installed.startswith("4.1."):
            problems.append(
                f"kilosort {installed} is installed; spikelab-ks4 works with kilosort>=4.1.7,<4.2: "
                "`pip install 'kilosort>=4.1.7,<4.2'`."
            )
    return problems


def needs_gpu(config) -> bool:
    """Whether Kilosort4 will sort on a GPU: when asked (``"cuda..."``), and with ``"auto"`` when
    NVML finds an NVIDIA GPU (torch then picks CUDA too), so the GPU preflight and watchdog cover
    the default as well. Seen on an H200: with ``"auto"`` the sort ran on CUDA unwatched."""
    device = str(config.sorter.sorter_params.get("torch_device", "auto")).lower()
    if device == "auto":
        from spikelab.spike_sorting.gpus import count_nvidia_gpus

        return count_nvidia_gpus() > 0
    return device.startswith("cuda")


def stop_grace_s(job) -> float:
    """A Docker run's container gets ``docker_stop_timeout_s`` to stop, plus a margin."""
    if job.config.sorter.use_docker:
        return float(job.params.get("docker_stop_timeout_s", DEFAULT_PARAMS["docker_stop_timeout_s"])) + 5.0
    return 3.0


def _kilosort4_preset():
    from spikelab.spike_sorting.config import SortingPipelineConfig

    return SortingPipelineConfig().override(sorter=SORTER)


def _kilosort4_docker_preset():
    from spikelab.spike_sorting.config import SortingPipelineConfig

    return SortingPipelineConfig().override(sorter=SORTER, use_docker=True)


BACKEND = SorterBackend(
    name=SORTER,
    distribution="spikelab-ks4",
    version=distribution_version("spikelab-ks4"),
    run=run,
    read_sorting=read_sorting,
    params=Kilosort4Params,
    reserved_params=RESERVED,
    presets={"KILOSORT4": _kilosort4_preset, "KILOSORT4_DOCKER": _kilosort4_docker_preset},
    default_preset="KILOSORT4",
    oom_knob=OomKnob(
        name="batch_size", default=KS4_SETTINGS["batch_size"], floor=BATCH_SIZE_FLOOR, factor=0.5
    ),
    classifier=classify_ks4_failure,
    classifier_name="classify_ks4_failure",
    check_environment=check_environment,
    needs_gpu=needs_gpu,
    device_param="torch_device",
    disk_factor=2.0,  # the binary copy, plus Kilosort4's small outputs
    reported_versions=("torch", "kilosort"),
    stop_grace_s=stop_grace_s,
    log_name="kilosort4.log",
    description="Kilosort4 (MouseLand) through its Python API, on CUDA or the CPU, or in Docker.",
)


@hookimpl
def spikelab_register_sorters(register) -> None:
    register(BACKEND)
