"""The runner: executed in SpikeLab's sorter child process, it calls SpikeInterface's ``run_sorter``.

``run(job)`` opens the recording folder the pipeline wrote and sorts it in this process with the
sorter named by ``job.config.sorter.sorter_name`` (spykingcircus2, tridesclous2, lupin or
mountainsort5). SpikeInterface writes its own provenance (``spikeinterface_log.json``,
``spikeinterface_params.json``) into the results folder; the sorter's prints and tracebacks go to
the child's stdout and stderr, which the pipeline appends to ``job.log_path``.

Layout of the sorter folder::

    <sorter_folder>/<sorter>.log        the log (the sorter's prints, our events, tracebacks)
    <sorter_folder>/sorter_output/      SpikeInterface's sorter folder (its log, params, sorting)
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import structlog

from spikelab.plugin import InputError, SortJob
from spikelab_si.parameters import RESERVED, sorter_kwargs

log = structlog.get_logger("spikelab_si")

RESULTS_SUBFOLDER = "sorter_output"


def params_type_of(sorter_name: str) -> type:
    """The declared parameters class of one of this package's sorters."""
    from spikelab_si.plugin import SORTERS

    return SORTERS[sorter_name].params_type


def spikeinterface_kwargs(job: SortJob) -> dict[str, Any]:
    """The keyword arguments of ``run_sorter`` for ``job``: the sorter's parameters with the
    pipeline's workers and the chunk duration (``job_kwargs``, or mountainsort5's own names)."""
    name = job.config.sorter.sorter_name
    for key in job.params:
        if key in RESERVED:
            raise InputError(f"{name} parameter {key!r} cannot be set: {RESERVED[key]}.")
    kwargs, chunk_s = sorter_kwargs(params_type_of(name), dict(job.params))
    chunking = {
        "n_jobs": int(job.config.execution.n_jobs),
        "chunk_duration": f"{chunk_s:g}s",
        "progress_bar": bool(job.config.execution.progress_bar),
    }
    if name == "mountainsort5":
        kwargs.update(chunking)
    else:
        kwargs["job_kwargs"] = chunking
    return kwargs


def run(job: SortJob) -> None:
    """Sort ``job.recording_folder`` with the job's SpikeInterface sorter into ``job.sorter_folder``.

    Parameters
    ----------
    job : SortJob
        The pipeline's job; ``job.params`` holds the sorter's parameters
        (:mod:`spikelab_si.parameters`) and ``chunk_duration``.

    Raises
    ------
    spikeinterface.sorters.utils.SpikeSortingError
        When the sorter fails; its message holds the sorter's traceback, which the backend's
        classifier reads.
    """
    import spikeinterface as si
    from spikeinterface.sorters import run_sorter

    name = job.config.sorter.sorter_name
    kwargs = spikeinterface_kwargs(job)
    recording = si.load(Path(job.recording_folder))
    output = Path(job.sorter_folder) / RESULTS_SUBFOLDER
    log.info(
        "si_sorter_start",
        sorter=name,
        n_channels=recording.get_num_channels(),
        n_samples=recording.get_total_samples(),
        job_kwargs=kwargs.get("job_kwargs"),
    )
    # The folder is this runner's own subfolder of the sorter folder: a retry starts afresh.
    sorting = run_sorter(name, recording, folder=output, remove_existing_folder=True, verbose=True, **kwargs)
    log.info("si_sorter_done", sorter=name, units=len(sorting.unit_ids), folder=str(output))


def read_sorting(sorter_folder: Path | str):
    """The sorter's units as a SpikeInterface sorting (spike trains in samples).

    Parameters
    ----------
    sorter_folder : Path or str
        The sorter folder of a SpikeLab sort (or SpikeInterface's own sorter folder in it).

    Raises
    ------
    InputError
        When the folder holds no finished SpikeInterface sort.
    """
    from spikeinterface.sorters import read_sorter_folder

    folder = Path(sorter_folder)
    for candidate in (folder / RESULTS_SUBFOLDER, folder):
        if (candidate / "spikeinterface_log.json").is_file():
            return read_sorter_folder(candidate, register_recording=False)
    raise InputError(
        f"No SpikeInterface sort in {folder}: spikeinterface_log.json is missing there and in "
        f"{RESULTS_SUBFOLDER}/. The sort did not finish; read the sorter log in {folder} and sort again."
    )


__all__ = ["read_sorting", "run", "spikeinterface_kwargs"]
