"""Kilosort2 through a local MATLAB: write its inputs, run ``matlab -batch``, keep its log.

Runs in SpikeLab's sorter child process. MATLAB is a grandchild in its own process group; its
output goes line by line into ``kilosort2.log`` in the sorter folder, and SIGTERM (a watchdog or
the user stopping the pipeline) ends MATLAB before this process exits.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import structlog

from spikelab_ks2 import _runlog
from spikelab_ks2.environment import matlab_problems, raise_if_not_ready
from spikelab_ks2.params import DEFAULT_PARAMS, LOG_NAME, build_ops, kilosort_source_path, param_problems
from spikelab_ks2.recording_io import prepare_binary
from spikelab_ks2.script import matlab_command, write_channel_map, write_matlab_files

if TYPE_CHECKING:
    from spikelab.spike_sorting.backend import SortJob

log = structlog.get_logger("spikelab.ks2")


def _stop_process_group(process: subprocess.Popen, grace_s: float = 10.0) -> None:
    if process.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(grace_s)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(grace_s)


def stream_command(command: list[str], *, cwd: Path, sorter_log: _runlog.SorterLog) -> int:
    """Run ``command`` with stdout and stderr streamed into ``sorter_log``; returns its exit code."""
    process = subprocess.Popen(
        command,
        cwd=cwd,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    log.info("ks2_matlab_started", pid=process.pid, command=command)
    try:
        with _runlog.stop_on_sigterm(lambda: _stop_process_group(process)):
            assert process.stdout is not None
            for line in iter(process.stdout.readline, b""):
                sorter_log.write(line)
            return process.wait()
    finally:
        _stop_process_group(process)


def prepare_inputs(job: SortJob, params: dict[str, Any], kilosort_path: Path) -> tuple[Path, dict[str, Any]]:
    """Write the binary (if needed), ``chanMap.mat`` and the MATLAB scripts; returns the main script."""
    import spikeinterface as si

    folder = job.sorter_folder.resolve()
    recording = si.load(job.recording_folder)
    binary = prepare_binary(recording, folder, seed=job.config.execution.random_seed)
    write_channel_map(folder, binary.locations, binary.sampling_frequency)
    ops = build_ops(
        params,
        num_channels=binary.num_channels,
        sampling_frequency=binary.sampling_frequency,
        binary_path=str(binary.path),
        output_folder=str(folder),
    )
    _, main = write_matlab_files(
        folder,
        ops,
        kilosort_path=str(kilosort_path.resolve()),
        npy_matlab_path=params.get("npy_matlab_path"),
        header=f"Recording: {job.recording_folder}",
    )
    record = {
        "how": "matlab",
        "params": params,
        "ops": {k: v for k, v in ops.items() if k != "trange"},
        "binary_path": str(binary.path),
        "binary_copied": binary.copied,
        "gain_to_int16": binary.gain_to_int16,
        "channel_ids": binary.channel_ids,
        "kilosort_path": str(kilosort_path),
    }
    return main, record


def run_matlab(job: SortJob) -> None:
    """Sort ``job`` with Kilosort2 in a local MATLAB (the backend's runner when ``use_docker`` is off).

    Raises
    ------
    SorterDependencyError
        When MATLAB, the Kilosort2 sources or npy-matlab are missing (before any work).
    SorterProcessError
        When MATLAB exits with a non-zero status or writes no phy output; it carries the log tail.
    """
    params = dict(DEFAULT_PARAMS)
    params.update(job.params)
    folder = job.sorter_folder.resolve()
    folder.mkdir(parents=True, exist_ok=True)
    kilosort_path = kilosort_source_path(job.config.sorter.sorter_path)
    raise_if_not_ready(
        param_problems(params) + matlab_problems(params, kilosort_path),
        dependency="MATLAB / Kilosort2 sources",
        log_path=str(folder / LOG_NAME),
    )
    assert kilosort_path is not None  # matlab_problems reported it otherwise
    main, record = prepare_inputs(job, params, kilosort_path)
    command = matlab_command(str(params["matlab_command"]), main, str(params["matlab_mode"]))
    record["command"] = command
    _runlog.write_run_record(folder, record)
    started = time.monotonic()
    with _runlog.SorterLog(folder, job.log_path, "MATLAB") as sorter_log:
        exit_code = stream_command(command, cwd=folder, sorter_log=sorter_log)
        log.info("ks2_matlab_finished", exit_code=exit_code, seconds=round(time.monotonic() - started, 1))
        if exit_code != 0:
            raise _runlog.failure(sorter_log, exit_code, "MATLAB")
        _runlog.check_outputs(folder, sorter_log, "MATLAB")
    _runlog.remove_temp_files(folder, bool(params.get("delete_temp_wh", True)))
