"""The ``kilosort2`` sorter backend, registered through the ``spikelab`` entry point."""

from __future__ import annotations

from pathlib import Path

from spikelab.plugins import hookimpl
from spikelab.spike_sorting._exceptions import SorterProcessError
from spikelab.spike_sorting.backend import OomKnob, SorterBackend, SortJob
from spikelab_ks2 import __version__
from spikelab_ks2._runlog import read_run_record
from spikelab_ks2.classifier import classify_ks2_failure
from spikelab_ks2.environment import check_environment
from spikelab_ks2.params import (
    DEFAULT_PARAMS,
    LOG_NAME,
    NAME,
    NT_DEFAULT,
    NT_FLOOR,
    NT_MULTIPLE,
    Kilosort2Params,
)


def run(job: SortJob) -> None:
    """Run Kilosort2 for ``job``: in Docker when ``use_docker`` is on, else in a local MATLAB.

    A failure Kilosort2's log explains is raised as its classified error (chained from the
    process error that carries the log tail).
    """
    if job.config.sorter.use_docker:
        from spikelab_ks2.docker_runner import run_docker as runner
    else:
        from spikelab_ks2.matlab_runner import run_matlab as runner
    try:
        runner(job)
    except SorterProcessError as exc:
        classified = classify_ks2_failure(job.sorter_folder, exc)
        if classified is not None:
            raise classified from exc
        raise


def read_sorting(sorter_folder: Path):
    """Read Kilosort2's phy output in ``sorter_folder`` with SpikeInterface's Kilosort reader.

    Only units labelled ``good`` are kept when the run's ``keep_good_only`` was set.
    """
    from spikeinterface.extractors import read_kilosort

    folder = Path(sorter_folder)
    record = read_run_record(folder)
    keep_good_only = bool(record.get("params", {}).get("keep_good_only", False))
    return read_kilosort(folder, keep_good_only=keep_good_only)


def _needs_gpu(config) -> bool:
    return True  # Kilosort2 has no CPU version (ops.GPU must be 1)


def _preset_matlab():
    from spikelab.spike_sorting.config import SortingPipelineConfig

    return SortingPipelineConfig().override(sorter=NAME)


def _preset_docker():
    from spikelab.spike_sorting.config import SortingPipelineConfig

    return SortingPipelineConfig().override(sorter=NAME, use_docker=True)


def stop_grace_s(job) -> float:
    """A Docker run's container gets Docker's 10 s stop timeout, plus a margin."""
    return 15.0 if job.config.sorter.use_docker else 3.0


BACKEND = SorterBackend(
    name=NAME,
    distribution="spikelab-ks2",
    version=__version__,
    run=run,
    read_sorting=read_sorting,
    params=Kilosort2Params,
    default_params=DEFAULT_PARAMS,
    param_aliases={"freq_min": "fshigh"},  # SpikeInterface's name for Kilosort2's high-pass
    presets={"KILOSORT2": _preset_matlab, "KILOSORT2_DOCKER": _preset_docker},
    default_preset="KILOSORT2",
    oom_knob=OomKnob(name="NT", default=NT_DEFAULT, floor=NT_FLOOR, factor=0.5, multiple_of=NT_MULTIPLE),
    classifier=classify_ks2_failure,
    classifier_name="classify_ks2_failure",
    check_environment=check_environment,
    needs_gpu=_needs_gpu,
    disk_factor=2.5,  # the binary copy plus Kilosort2's whitened temp_wh.dat
    stop_grace_s=stop_grace_s,
    log_name=LOG_NAME,
    description="Kilosort2 (MATLAB + CUDA) through a local MATLAB or SpikeInterface's compiled Docker image.",
)


@hookimpl
def spikelab_register_sorters(register) -> None:
    register(BACKEND)
