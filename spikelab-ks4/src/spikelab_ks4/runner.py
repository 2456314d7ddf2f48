"""The Kilosort4 runner: executed in the sorter's child process by SpikeLab's pipeline.

``run(job)`` opens the recording folder the pipeline wrote, builds Kilosort4's probe and
settings from it and from ``job.params``, and calls ``kilosort.run_kilosort`` on the recording's
own binary file (no copy), on CUDA when available and otherwise on every CPU core allowed to the
process. With ``use_docker`` it runs the same call inside the Kilosort4 image instead
(:mod:`spikelab_ks4.docker`).

Layout of the sorter folder::

    <sorter_folder>/kilosort4.log          the log (Kilosort's INFO lines, and ours)
    <sorter_folder>/spikelab_run.json      provenance: settings, device, versions, timings
    <sorter_folder>/sorter_output/         Kilosort4's results_dir (phy files, its DEBUG log)
"""

from __future__ import annotations

import contextlib
import logging
import shutil
import time
from collections.abc import Collection, Iterator
from pathlib import Path
from typing import Any

import attrs
import numpy as np
import structlog

from spikelab.errors import InputError
from spikelab.spike_sorting import provenance
from spikelab.spike_sorting.backend import SortJob
from spikelab_ks4.params import KilosortCall, derived_settings, fit_batch_size, resolve_device, split_params

log = structlog.get_logger("spikelab_ks4")

RESULTS_SUBFOLDER = "sorter_output"
RUN_RECORD = provenance.RUN_RECORD
#: dtypes ``run_kilosort`` reads from a binary file.
SUPPORTED_DTYPES = ("int16", "uint16", "int32", "float32")


@attrs.frozen
class KilosortInputs:
    """Everything ``run_kilosort`` needs about the recording.

    Parameters
    ----------
    binary_file : Path
        The recording's raw binary file (samples x channels, no header).
    data_dtype : str
        Its dtype.
    num_samples : int
        Samples per channel.
    probe : dict
        Kilosort4's probe dictionary (``chanMap``, ``xc``, ``yc``, ``kcoords``, ``n_chan``).
    settings : dict
        Kilosort4 settings, complete with ``n_chan_bin``, ``fs`` and a fitted ``batch_size``.
    """

    binary_file: Path
    data_dtype: str
    num_samples: int
    probe: dict[str, Any]
    settings: dict[str, Any]


def build_probe(recording) -> dict[str, Any]:
    """Kilosort4's probe dictionary from a recording's channel locations (and ``group``)."""
    try:
        locations = np.asarray(recording.get_channel_locations(), dtype=np.float32)
    except Exception as exc:
        raise InputError(
            "Kilosort4 needs channel locations: attach a probe to the recording "
            "(recording.set_probe(...)) before sorting."
        ) from exc
    n_channels = recording.get_num_channels()
    groups = recording.get_property("group")
    kcoords = np.zeros(n_channels, dtype=np.float32) if groups is None else np.asarray(groups, np.float32)
    return {
        "chanMap": np.arange(n_channels, dtype=np.int32),
        "xc": locations[:, 0].copy(),
        "yc": locations[:, 1].copy(),
        "kcoords": kcoords,
        "n_chan": n_channels,
    }


def prepare_inputs(recording_folder: Path, call: KilosortCall, user_set: Collection[str] = ()) -> KilosortInputs:
    """Open the recording folder and work out the binary file, probe and settings.

    With the option ``derive_settings`` (the default), the settings that depend on the sampling
    rate (:func:`spikelab_ks4.params.derived_settings`) are derived from the recording, except
    those named in ``user_set`` (the user's own values win).

    Raises
    ------
    InputError
        When the folder is not a single-segment binary recording Kilosort4 can read in place.
    """
    import spikeinterface as si

    recording = si.load(recording_folder)
    if recording.get_num_segments() != 1:
        raise InputError(
            f"Kilosort4 sorts one segment; {recording_folder} has {recording.get_num_segments()}. "
            "Concatenate the segments first (spikeinterface.concatenate_recordings)."
        )
    if not recording.is_binary_compatible():
        raise InputError(
            f"{recording_folder} is not a binary recording; save it with "
            "recording.save(format='binary') so Kilosort4 can read it in place."
        )
    description = recording.get_binary_description()
    dtype = np.dtype(description["dtype"]).name
    if dtype not in SUPPORTED_DTYPES:
        raise InputError(
            f"Kilosort4 reads {', '.join(SUPPORTED_DTYPES)} binaries; {recording_folder} is {dtype}. "
            "Save the recording with dtype='float32' or 'int16'."
        )
    if description["time_axis"] != 0 or description["file_offset"] != 0:
        raise InputError(
            f"Kilosort4 needs a headerless samples x channels file; {recording_folder} has "
            f"time_axis={description['time_axis']}, file_offset={description['file_offset']}."
        )
    num_samples = recording.get_num_samples()
    probe = build_probe(recording)
    settings = dict(call.settings)
    settings["batch_size"] = fit_batch_size(int(settings["batch_size"]), num_samples)
    settings["n_chan_bin"] = recording.get_num_channels()
    settings["fs"] = float(recording.get_sampling_frequency())
    if call.options["derive_settings"]:
        derived = derived_settings(settings["fs"])
        settings.update({name: value for name, value in derived.items() if name not in user_set})
    return KilosortInputs(
        binary_file=Path(description["file_paths"][0]),
        data_dtype=dtype,
        num_samples=num_samples,
        probe=probe,
        settings=settings,
    )


@contextlib.contextmanager
def kilosort_log_to(log_path: Path, level: int = logging.INFO) -> Iterator[None]:
    """Send the ``kilosort`` loggers' records to ``log_path`` (and only there) meanwhile.

    Kilosort adds its console handler only when its logger has none, and the sorter child's
    root logger already writes to the same log, so propagation is turned off to keep each line
    once. Kilosort also writes a DEBUG log of its own into its results folder.
    """
    logger = logging.getLogger("kilosort")
    handler = logging.FileHandler(log_path, mode="a", encoding="utf-8")
    handler.setLevel(level)
    handler.setFormatter(logging.Formatter("%(asctime)s %(name)s %(levelname)s %(message)s"))
    previous_propagate = logger.propagate
    logger.addHandler(handler)
    logger.propagate = False
    try:
        yield
    finally:
        logger.removeHandler(handler)  # run_kilosort's close_logger may have done it already
        handler.close()
        logger.propagate = previous_propagate


def _versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    found = {}
    for name in ("kilosort", "torch", "spikeinterface", "spikelab-ks4", "spikelab-core"):
        with contextlib.suppress(PackageNotFoundError):
            found[name] = version(name)
    return found


def write_run_record(sorter_folder: Path, record: dict[str, Any]) -> Path:
    """Write the run's provenance through core (one record name, atomic, fsynced)."""
    return provenance.write_run_record(sorter_folder, record)


def fresh_results_folder(sorter_folder: Path) -> Path:
    """``<sorter_folder>/sorter_output``, emptied of an earlier attempt (this runner made it)."""
    results_dir = Path(sorter_folder) / RESULTS_SUBFOLDER
    (Path(sorter_folder) / RUN_RECORD).unlink(missing_ok=True)
    if results_dir.exists():
        shutil.rmtree(results_dir)
    results_dir.mkdir(parents=True)
    return results_dir


def run_local(job: SortJob, call: KilosortCall, inputs: KilosortInputs) -> dict[str, Any]:
    """Run ``kilosort.run_kilosort`` in this process; returns what the run record keeps."""
    from kilosort import run_kilosort

    device = resolve_device(call.options["torch_device"])
    results_dir = fresh_results_folder(job.sorter_folder)
    import torch

    log.info(
        "kilosort4_start",
        device=str(device),
        torch_threads=torch.get_num_threads(),
        n_channels=inputs.settings["n_chan_bin"],
        n_samples=inputs.num_samples,
        batch_size=inputs.settings["batch_size"],
        binary_file=str(inputs.binary_file),
    )
    with kilosort_log_to(job.log_path):
        run_kilosort(
            settings=inputs.settings,
            probe=inputs.probe,
            filename=inputs.binary_file,
            data_dtype=inputs.data_dtype,
            results_dir=results_dir,
            device=device,
            **call.run_arguments,
        )
    return {"device": str(device), "torch_threads": torch.get_num_threads()}


def run(job: SortJob) -> None:
    """Sort ``job.recording_folder`` with Kilosort4 into ``job.sorter_folder``.

    Runs in SpikeLab's sorter child process (its stdout and stderr go to ``job.log_path``).

    Parameters
    ----------
    job : SortJob
        The pipeline's job; ``job.params`` holds Kilosort4 settings, ``run_kilosort`` arguments
        and SpikeLab's options (:data:`spikelab_ks4.params.DEFAULT_PARAMS`).

    Raises
    ------
    KilosortSettingsError
        For parameters Kilosort4 would reject, before anything runs.
    InputError
        For a recording folder Kilosort4 cannot read in place.
    """
    started = time.time()
    call = split_params(job.params)
    job.sorter_folder.mkdir(parents=True, exist_ok=True)
    inputs = prepare_inputs(Path(job.recording_folder), call, user_set=job.config.sorter.sorter_params)
    if job.config.sorter.use_docker:
        from spikelab_ks4.docker import run_in_docker

        details = run_in_docker(job, call, inputs)
    else:
        details = run_local(job, call, inputs)
    elapsed = time.time() - started
    write_run_record(
        job.sorter_folder,
        {
            "sorter": "kilosort4",
            "docker": bool(job.config.sorter.use_docker),
            "settings": inputs.settings,
            "run_arguments": call.run_arguments,
            "options": call.options,
            "binary_file": str(inputs.binary_file),
            "data_dtype": inputs.data_dtype,
            "elapsed_s": round(elapsed, 3),
            "versions": _versions(),
            **details,
        },
    )
    log.info("kilosort4_done", elapsed_s=round(elapsed, 1), sorter_folder=str(job.sorter_folder))
