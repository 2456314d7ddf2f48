"""``classify_si_failure``: SpikeInterface sorters' real failure signatures as SpikeLab classes.

``run_sorter`` catches the sorter's exception and raises ``SpikeSortingError`` whose message holds
the sorter's traceback ("Spike sorting error trace: ..."), so a ``MemoryError`` no longer reaches
the pipeline as one: these signatures are matched in the text of the exception chain and of the
sorter log (the sorter's prints), then core's generic signatures follow through the
``spikelab_classify_failure`` hook.

Signatures, as SpikeInterface 0.105 and its dependencies word them:

* ``numpy._core._exceptions._ArrayMemoryError: Unable to allocate 11.2 GiB for an array with shape
  (...) and data type float32``, a bare ``MemoryError``, and ``BrokenProcessPool: A process in
  the process pool was terminated abruptly ...`` (a parallel worker killed by the kernel's OOM
  killer): host memory; the pipeline retries with a shorter ``chunk_duration``.
* ``Found 0 peaks in total`` (spykingcircus2), ``detect_peaks(): 0 peaks found`` (tridesclous2,
  lupin), ``Kept 0 clean clusters`` / ``find_clusters_from_peaks(): 0 cluster found``, and the
  scikit-learn / numpy errors an empty peak set raises (``Found array with 0 sample(s)``,
  ``zero-size array to reduction operation``; tridesclous2 then fails with ``ZeroDivisionError:
  division by zero`` at ``all_peaks.size / peaks.size``): nothing to sort (status ``not_sortable``).
* ``AssertionError: Prototype should have a negative peak`` (spykingcircus2's matched-filtering
  detection learns its spike prototype from the data and finds none in pure noise).
* ``Invalid parameters: [...]`` (SpikeInterface's own check) and ``The sorter X is not
  installed``: configuration and environment.
"""

from __future__ import annotations

import re
from pathlib import Path

from spikelab.plugin import (
    ConfigError,
    EnvironmentSortFailure,
    HostMemoryError,
    InsufficientActivityError,
    SorterDependencyError,
    classified_in_chain,
    exception_chain_text,
    find_line,
    read_sorter_log,
)

LOG_NAMES = ("spykingcircus2.log", "tridesclous2.log", "lupin.log", "mountainsort5.log")

_HOST_OOM = re.compile(
    r"Unable to allocate [\d.]+ [KMGTP]?i?B for an array with shape.*|^\s*MemoryError\b.*"
    r"|_ArrayMemoryError.*|A process in the process pool was terminated abruptly.*",
    re.MULTILINE,
)
_NO_PEAKS = re.compile(r"Found 0 peaks in total|detect_peaks\(\): 0 peaks found|Kept 0 peaks for clustering")
_NO_CLUSTERS = re.compile(
    r"Kept 0 clean clusters|find_clusters_from_peaks\(\): 0 cluster found|Kept 0 units after"
)
_EMPTY_ARRAY = re.compile(
    r"Found array with 0 sample\(s\).*|zero-size array to reduction operation.*"
    r"|Prototype should have a (?:negative|positive) peak"
)
_PEAKS_FOUND = re.compile(r"Found (\d+) peaks in total|detect_peaks\(\): (\d+) peaks found")
_INVALID = re.compile(r"Invalid parameters: \[.*")
_NOT_INSTALLED = re.compile(r"The sorter (\w+) is not installed.*")

_SILENT_ADVICE = (
    "Check the recording's gain and dtype and that the right stream was read; a lower "
    "detect_threshold finds smaller spikes."
)


class SpikeInterfaceSettingsError(EnvironmentSortFailure, ConfigError):
    """SpikeInterface rejected the sorter's parameters; every recording would fail the same way."""

    evidence_fields = ("setting",)


class SpikeInterfaceMemoryError(HostMemoryError):
    """A SpikeInterface sorter ran out of host memory (status ``oom_memoryerror``).

    Unlike a plain ``HostMemoryError`` it is retried inside the sort with a halved
    ``chunk_duration``: these sorters' parallel steps hold one chunk per worker, so shorter chunks
    are the one change that lowers their peak memory without changing the result's meaning.
    """

    oom_retryable = True


def _sorter_of(output_folder: Path | None) -> str:
    for name in LOG_NAMES:
        if output_folder is not None and (Path(output_folder) / name).is_file():
            return name.removesuffix(".log")
    return "spikeinterface"


def _peaks_found(text: str) -> int | None:
    match = _PEAKS_FOUND.search(text)
    if match is None:
        return None
    return int(match.group(1) or match.group(2))


def classify_si_failure(
    output_folder: Path | str | None, exc: BaseException | None, sorter: str | None = None
):
    """Classify a failure of a SpikeInterface sorter, or return None when no signature matches.

    Parameters
    ----------
    output_folder : Path or str
        The sorter folder (its ``<sorter>.log`` is read).
    exc : BaseException
        What the sort raised (usually ``SpikeSortingError`` holding the sorter's traceback).
    sorter : str or None, default: None
        The sorter's name (None: guessed from the log file's name).

    Returns
    -------
    error : SpikeSortingClassifiedError or None
        ``SpikeInterfaceMemoryError`` (status ``oom_memoryerror``, retried with a shorter
        ``chunk_duration``), ``InsufficientActivityError`` (``not_sortable``),
        ``SpikeInterfaceSettingsError`` or ``SorterDependencyError`` (``environment``), or None.
    """
    already = classified_in_chain(exc)
    if already is not None:
        return already
    folder = Path(output_folder) if output_folder is not None else None
    log_text, log_path = read_sorter_log(folder, (f"{sorter}.log",) if sorter else LOG_NAMES)
    text = exception_chain_text(exc) + "\n" + log_text
    common = {"sorter": sorter or _sorter_of(folder), "log_path": log_path}

    found = find_line(text, _HOST_OOM)
    if found:
        return SpikeInterfaceMemoryError(
            f"{common['sorter']} ran out of host memory. The pipeline retries with a shorter "
            "chunk_duration; otherwise lower n_jobs, set cache_preprocessing to disk, or sort "
            "a shorter window.",
            matched_line=found[1],
            **common,
        )
    found = find_line(text, _NO_PEAKS) or find_line(text, _NO_CLUSTERS) or find_line(text, _EMPTY_ARRAY)
    if found:
        peaks = _peaks_found(text)
        return InsufficientActivityError(
            f"{common['sorter']} found nothing to sort ({found[1].strip()}): the recording looks "
            "silent or is pure noise. " + _SILENT_ADVICE,
            matched_line=found[1],
            threshold_crossings=peaks if peaks is not None else 0,
            **common,
        )
    found = find_line(text, _INVALID)
    if found:
        return SpikeInterfaceSettingsError(
            f"SpikeInterface rejected the sorter parameters: {found[1].strip()} Fix them "
            f"(`spikelab plugins --params {common['sorter']}` lists them) and sort again.",
            matched_line=found[1],
            **common,
        )
    found = find_line(text, _NOT_INSTALLED)
    if found:
        sorter = found[0].group(1)
        return SorterDependencyError(
            f"{sorter} is not installed: `pip install 'spikelab-si[{sorter}]'`.",
            matched_line=found[1],
            dependency=sorter,
            remedy=f"pip install 'spikelab-si[{sorter}]'",
            **common,
        )
    return None


__all__ = ["SpikeInterfaceMemoryError", "SpikeInterfaceSettingsError", "classify_si_failure"]
