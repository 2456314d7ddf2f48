"""``classify_ks2_failure``: Kilosort2's MATLAB failures, read from ``kilosort2.log``.

The exit code only says "failed"; the text after the line of dashes (and the progress lines
before it) say why. Every pattern below is text Kilosort2 v2.0 or MATLAB prints, as seen in the
Kilosort2 sources and in users' reports (issue numbers are MouseLand/Kilosort unless noted):

* GPU memory: MATLAB's "Out of memory on device. To view more detail about available memory on
  the GPU, use 'gpuDevice()'..." (#506, #319), "Call to Real Single Symmetric EIG on the GPU failed
  with CUDA error status: out of memory" (#216);
* host memory: "Out of memory. Type HELP MEMORY for your options." (#300, iblenv #31);
* disk: ``preprocessDataSub``'s "Error writing batch %g to %s. Check available disk space." and
  "Could not open %s for writing.";
* MEX / CUDA toolchain: "Invalid MEX-file '...spikedetector3.mexa64'" (#342), "... is not a MEX
  file" (#400), "fatbinary fatal : ... is not in 'keyword=value' format" (#8, #220, #515), mexcuda's
  "No supported compiler or SDK was found" and "No CUDA toolkit installation could be found"
  (#245), "Unrecognized function or variable 'spikedetector3'." (#249);
* channels: ``get_good_channels``' "found %d bad channels" against the channel count;
* activity: "found %d threshold crossings in %2.2f seconds of data", ``learnTemplates``' "%d / %d
  batches, %d units, nspks: %2.4f", ``clusterSingleBatches``' "Batch %d has fewer than Nfilt
  spikes." with the errors too few spikes cause ("invalid configuration argument" from an empty
  kernel launch, #527; empty-index errors, #307);
* other CUDA faults: "CUDA_ERROR_ILLEGAL_ADDRESS" (#107, #570), "The CUDA error was: ..." (#209),
  "sgemm in CUBLAS failed" (SpikeInterface #702).
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

from spikelab.spike_sorting import _exceptions as ex
from spikelab.spike_sorting._classifier import (
    GPU_OOM,
    classified_in_chain,
    exception_chain_text,
    find_line,
    read_sorter_log,
)
from spikelab_ks2._runlog import RUN_MARKER
from spikelab_ks2.params import LOG_NAME, NAME, NT_FLOOR
from spikelab_ks2.script import CHANMAP_NAME

#: Older SpikeLab's thresholds for "too little activity" (kept for compatibility).
MIN_THRESHOLD_CROSSINGS = 20_000
MAX_UNITS_AT_FAILURE = 5
MAX_NSPKS_AT_FAILURE = 5.0

_DISK = re.compile(r"Error writing batch \S+ to (.+?)\. Check available disk space|No space left on device")
_OPEN_WRITE = re.compile(r"Could not open (.+?) for writing\.")
_OPEN_READ = re.compile(r"Could not open (.+?) for reading\.")
_HOST_OOM = re.compile(r"Out of memory\. Type (?:HELP MEMORY|\"help memory\") for your options", re.I)
_MEX = re.compile(
    r"Invalid MEX-file|is not a MEX file|fatbinary fatal|No supported compiler or SDK was found"
    r"|No CUDA toolkit installation could be found|Compilation failed\."
)
_UNDEFINED = re.compile(
    r"(?:Undefined function or variable|Unrecognized function or variable|Undefined function)\s+'(\w+)'"
)
_CROSSINGS = re.compile(r"found (\d+) threshold crossings in ([\d.]+) seconds of data")
_BAD_CHANNELS = re.compile(r"found (\d+) bad channels")
_TOTAL_CHANNELS = re.compile(r"Recording has (\d+) channels")
_NO_GOOD = re.compile(r"found\s+0\s+good channels\b")
_PROGRESS = re.compile(r"(\d+) / \d+ batches, (\d+) units, nspks: ([\d.]+)")
_FEW_SPIKES = re.compile(r"Batch \d+ has fewer than Nfilt spikes|data batch #\d+ only had (\d+) spikes")
_ACTIVITY_ERRORS = re.compile(
    r"invalid configuration argument|Index exceeds|Subscript indices must either be real positive integers"
    r"|Index in position \d+ exceeds|Array indices must be positive integers"
)
_CUDA_FAULT = re.compile(
    r"CUDA_ERROR_\w+|The CUDA error was:\s*[^\n]+|in CUBLAS failed"
    r"|An unexpected error occurred trying to launch a kernel"
)




def _current_run(log_text: str) -> str:
    start = log_text.rfind(RUN_MARKER)
    return log_text if start < 0 else log_text[start:]


def _last(pattern: re.Pattern[str], text: str) -> re.Match[str] | None:
    found = None
    for found in pattern.finditer(text):  # noqa: B007 - keep the last
        pass
    return found


def _total_channels(text: str, folder: Path | None) -> int | None:
    found = _last(_TOTAL_CHANNELS, text)
    if found:
        return int(found.group(1))
    if folder is not None:
        for candidate in (folder / CHANMAP_NAME, folder / "sorter_output" / CHANMAP_NAME):
            if candidate.is_file():
                try:
                    import scipy.io

                    return int(scipy.io.loadmat(str(candidate))["Nchannels"].ravel()[0])
                except Exception:  # unreadable map: no evidence, not a crash
                    return None
    return None


def _free_gb(path_text: str, fallback: Path | None) -> tuple[str | None, float | None]:
    """The folder being written and its free space; a path that only exists inside the container
    (``/spikelab/output/temp_wh.dat``) is measured on the host's sorter folder instead."""
    folder = Path(path_text.strip().strip("'\"")).parent
    if not folder.is_dir() and fallback is not None and fallback.is_dir():
        folder = fallback
    try:
        return str(folder), round(shutil.disk_usage(folder).free / 1e9, 3)
    except OSError:
        return str(folder), None


def _dependency_for(function: str) -> tuple[str, str] | None:
    if function.startswith("mex") or function.startswith("spikedetector"):
        return (
            "Kilosort2 CUDA MEX files",
            "Compile Kilosort2's CUDA code: in MATLAB run `cd <kilosort_path>/CUDA; mexGPUall` "
            f"('{function}' is one of them).",
        )
    if function in ("writeNPY", "constructNPYheader"):
        return ("npy-matlab", "Install https://github.com/kwikteam/npy-matlab and pass npy_matlab_path=...")
    if function.startswith("gpu"):
        return (
            "MATLAB Parallel Computing Toolbox",
            "Install MATLAB's Parallel Computing Toolbox (Kilosort2 needs gpuArray).",
        )
    if function in ("preprocessDataSub", "clusterSingleBatches", "learnAndSolve8b", "rezToPhy", "set_cutoff"):
        return (
            "Kilosort2 sources",
            f"kilosort_path does not hold Kilosort2 v2.0 ('{function}' is missing): point it at your clone.",
        )
    return None


def classify_ks2_failure(output_folder: Path | str | None, exc: BaseException | None):
    """Classify a failed Kilosort2 run, or return None when nothing is recognised.

    Parameters
    ----------
    output_folder : Path or str
        The sorter folder holding ``kilosort2.log`` (or its ``sorter_output`` subfolder).
    exc : BaseException
        What the run raised (its message, chain and carried log tail are evidence too).

    Returns
    -------
    SpikeSortingClassifiedError or None
    """
    already = classified_in_chain(exc)
    if already is not None:
        return already
    log_text, log_path = read_sorter_log(output_folder, [LOG_NAME])
    run_text = _current_run(log_text)
    text = run_text + "\n" + exception_chain_text(exc)
    folder = Path(output_folder) if output_folder is not None else None
    common = {"sorter": NAME, "stage": "sort", "log_path": log_path}

    if found := find_line(text, _DISK):
        target = found[0].group(1) if found[0].lastindex else None
        written = target or (str(folder / LOG_NAME) if folder is not None else None)
        disk_folder, free = _free_gb(written, folder) if written else (None, None)
        return ex.DiskExhaustionError(
            "Kilosort2 could not write its whitened copy of the data (temp_wh.dat, as large as the "
            "recording): free space on that disk, or sort from a folder on a larger disk.",
            matched_line=found[1], folder=disk_folder, free_gb_at_trip=free, **common,
        )
    if found := find_line(text, GPU_OOM):
        return ex.GPUOutOfMemoryError(
            f"Kilosort2 ran out of GPU memory. The pipeline retries with a smaller batch (NT, floor "
            f"{NT_FLOOR}); otherwise lower NT, drop unused channels, or use a GPU with more memory.",
            matched_line=found[1], **common,
        )
    if found := find_line(text, _HOST_OOM):
        return ex.HostMemoryError(
            "MATLAB ran out of host memory during Kilosort2 (long recordings with many spikes): sort a "
            "shorter window, or use a machine with more RAM.",
            matched_line=found[1], **common,
        )
    if found := find_line(text, _MEX):
        return ex.SorterDependencyError(
            "Kilosort2's CUDA MEX files are missing or were built for another MATLAB/CUDA: run "
            "`mexGPUall` in <kilosort_path>/CUDA with a CUDA toolkit and compiler MATLAB supports.",
            matched_line=found[1], dependency="Kilosort2 CUDA MEX files",
            remedy="cd <kilosort_path>/CUDA; mexGPUall", **common,
        )
    if (found := find_line(text, _UNDEFINED)) and (dependency := _dependency_for(found[0].group(1))):
        return ex.SorterDependencyError(
            f"MATLAB could not find '{found[0].group(1)}': {dependency[1]}",
            matched_line=found[1], dependency=dependency[0], remedy=dependency[1], **common,
        )
    if found := find_line(text, _OPEN_WRITE):
        return ex.PermissionDeniedError(
            f"Kilosort2 could not create {found[0].group(1)}: make the sorter folder writable "
            "(and check the disk is mounted and not full).",
            matched_line=found[1], folder=str(Path(found[0].group(1)).parent), **common,
        )
    if found := find_line(text, _OPEN_READ):
        return ex.EnvironmentSortFailure(
            f"Kilosort2 could not read the recording binary {found[0].group(1)} (moved, deleted, or "
            "not mounted in the container).",
            matched_line=found[1], **common,
        )
    classified = _classify_channels(run_text, folder, common) or _classify_activity(run_text, text, common)
    if classified is not None:
        return classified
    if found := find_line(text, _CUDA_FAULT):
        return ex.ResourceSortFailure(
            "Kilosort2 hit a CUDA fault. Run one Kilosort job per GPU (pin it with "
            "CUDA_VISIBLE_DEVICES), keep NT at its default, and split very long recordings.",
            matched_line=found[1], **common,
        )
    # The signatures every backend shares (Docker engine down, HDF5 filter, MemoryError), as the
    # Kilosort4 classifier does: called directly, this function must catch them too.
    from spikelab.spike_sorting.builtin_classifiers import classify_generic

    generic = classify_generic(NAME, folder or Path("."), exc, run_text)
    if generic is not None and generic.log_path is None and log_path is not None:
        generic.log_path = str(log_path)
    return generic


def _classify_channels(run_text: str, folder: Path | None, common: dict):
    if found := find_line(run_text, _NO_GOOD):
        return ex.NoGoodChannelsError(
            "Kilosort2 found no good channels: none crossed the threshold often enough "
            "(minfr_goodchannels). Check the recording has activity, or set minfr_goodchannels=0.",
            matched_line=found[1], total_channels=_total_channels(run_text, folder), bad_channels=None, **common,
        )
    bad = _last(_BAD_CHANNELS, run_text)
    total = _total_channels(run_text, folder)
    if bad and total and int(bad.group(1)) >= total:
        return ex.NoGoodChannelsError(
            f"Kilosort2 rejected all {total} channels as bad (fewer threshold crossings per second than "
            "minfr_goodchannels). Check the recording has activity (and its gain), or set minfr_goodchannels=0.",
            matched_line=bad.group(0), total_channels=total, bad_channels=int(bad.group(1)), **common,
        )
    return None


def _classify_activity(run_text: str, text: str, common: dict):
    crossings_match = _last(_CROSSINGS, run_text)
    crossings = int(crossings_match.group(1)) if crossings_match else None
    progress = _last(_PROGRESS, run_text)
    units = int(progress.group(2)) if progress else None
    nspks = float(progress.group(3)) if progress else None
    few = find_line(run_text, _FEW_SPIKES)
    error = find_line(text, _ACTIVITY_ERRORS)
    low = (
        (crossings is not None and crossings < MIN_THRESHOLD_CROSSINGS)
        or (units is not None and units <= MAX_UNITS_AT_FAILURE)
        or (nspks is not None and nspks <= MAX_NSPKS_AT_FAILURE)
    )
    if not (crossings == 0 or (low and (error or few)) or (few and error)):
        return None
    matched = (error or few)[1] if (error or few) else crossings_match.group(0)
    parts = [f"{crossings} threshold crossings" if crossings is not None else None,
             f"{units} units" if units is not None else None,
             f"nspks {nspks:g}" if nspks is not None else None]
    counts = ", ".join(p for p in parts if p) or "too few spikes"
    return ex.InsufficientActivityError(
        f"Kilosort2 found too little activity to sort ({counts}): the recording looks silent or its "
        "scaling is off (check the gain and dtype), or lower detect_threshold / projection_threshold.",
        matched_line=matched, threshold_crossings=crossings, units_at_failure=units,
        nspks_at_failure=nspks, **common,
    )
