"""``classify_ks4_failure``: Kilosort4's real failure signatures mapped to SpikeLab's classes.

Evidence is the exception chain (with the sorter child's traceback) plus the sorter log
(``kilosort4.log`` in the output folder or its ``sorter_output``). Kilosort-specific signatures
are tried first, then the generic ones every backend shares (HDF5 filter, Docker, CUDA out of
memory, MemoryError).

Signatures, as Kilosort4 4.1.7 and its dependencies word them:

* ``ValueError: Found array with 0 sample(s) (shape=(0, 61)) while a minimum of 1 is required by
  TruncatedSVD.`` -- no single-channel threshold crossing to learn templates from (a silent,
  noise-only or wrongly scaled recording).
* ``n_samples=5 should be >= n_clusters=6`` (scikit-learn's KMeans, same step) -- too few.
* ``ValueError: No spikes detected, cannot continue sorting.`` -- the universal templates matched
  nothing.
* ``torch.OutOfMemoryError: CUDA out of memory ...`` and Kilosort's "Out of memory error, printing
  performance..." -- GPU memory (retried by the pipeline with a smaller ``batch_size``).
* ``Unrecognized settings: [...]``, "`nt` must be odd", "Largest value of chanMap exceeds channel
  count of data", "`n_chan_bin` is a required setting" -- a configuration Kilosort rejects.
"""

from __future__ import annotations

import re
from pathlib import Path

from spikelab.spike_sorting import _exceptions as ex
from spikelab.spike_sorting._classifier import (
    GPU_OOM,
    classified_in_chain,
    exception_chain_text,
    find_line,
    read_sorter_log,
)
from spikelab_ks4.errors import KilosortSettingsError

SORTER = "kilosort4"
LOG_NAMES = ("kilosort4.log",)

_NO_CROSSINGS = re.compile(r"Found array with (\d+) sample\(s\).{0,80}?required by TruncatedSVD")
_TOO_FEW_CROSSINGS = re.compile(r"n_samples=(\d+) should be >= n_clusters=(\d+)")
_NO_SPIKES = re.compile(r"No spikes detected, cannot continue sorting")
_SPIKES_EXTRACTED = re.compile(r"(\d+) spikes extracted in")
_CLUSTERS_FOUND = re.compile(r"(\d+) clusters found, in")
#: Kilosort4's own wording, beside the shared torch/CUDA signatures.
_GPU_OOM = re.compile(GPU_OOM.pattern + r"|Out of memory error, printing performance", re.I)
_SETTINGS = re.compile(
    r"Unrecognized settings: .*|`nt` must be odd.*|Largest value of chanMap exceeds channel count.*"
    r"|`n_chan_bin` is a required setting.*|Unknown Kilosort4 parameter.*"
)

_SILENT_ADVICE = (
    "Check the recording's gain and dtype, that the right stream was read, and that the "
    "recording is long enough; lowering Th_universal/Th_learned finds smaller spikes."
)


def _first_int(pattern: re.Pattern[str], text: str) -> int | None:
    match = pattern.search(text)
    return int(match.group(1)) if match else None




def classify_ks4_failure(output_folder: Path | str | None, exc: BaseException | None):
    """Classify a Kilosort4 failure, or return None when no signature matches.

    Parameters
    ----------
    output_folder : Path or str
        The sorter folder (its ``kilosort4.log``, or ``sorter_output/kilosort4.log``, is read).
    exc : BaseException
        What the sort raised; its ``__cause__``/``__context__`` chain and any child traceback
        are searched too.

    Returns
    -------
    error : SpikeSortingClassifiedError or None
        ``InsufficientActivityError`` (status ``not_sortable``) with ``threshold_crossings``,
        ``GPUOutOfMemoryError`` (``oom_gpu``), ``KilosortSettingsError`` (``environment``), a
        generic class (HDF5 filter, Docker, MemoryError), or None.
    """
    already = classified_in_chain(exc)
    if already is not None:
        return already
    log_text, log_path = read_sorter_log(output_folder, LOG_NAMES)
    text = exception_chain_text(exc) + "\n" + log_text
    common = {"sorter": SORTER, "log_path": log_path}
    crossings_logged = _first_int(_SPIKES_EXTRACTED, log_text)

    found = find_line(text, _NO_CROSSINGS)
    if found:
        return ex.InsufficientActivityError(
            "Kilosort4 found no threshold crossing to learn spike templates from: the recording "
            "looks silent or is pure noise. " + _SILENT_ADVICE,
            matched_line=found[1],
            threshold_crossings=int(found[0].group(1)),
            **common,
        )
    found = find_line(text, _TOO_FEW_CROSSINGS)
    if found:
        n_samples, n_clusters = int(found[0].group(1)), int(found[0].group(2))
        return ex.InsufficientActivityError(
            f"Kilosort4 found only {n_samples} threshold crossings, fewer than the {n_clusters} "
            "templates it learns from them. " + _SILENT_ADVICE,
            matched_line=found[1],
            threshold_crossings=n_samples,
            units_at_failure=_first_int(_CLUSTERS_FOUND, log_text),
            **common,
        )
    found = find_line(text, _NO_SPIKES)
    if found:
        return ex.InsufficientActivityError(
            "Kilosort4's universal templates matched no spike. " + _SILENT_ADVICE,
            matched_line=found[1],
            threshold_crossings=crossings_logged if crossings_logged is not None else 0,
            **common,
        )
    found = find_line(text, _GPU_OOM)
    if found:
        torch_line = find_line(text, r"CUDA out of memory.*")
        return ex.GPUOutOfMemoryError(
            "Kilosort4 ran out of GPU memory. The pipeline retries with a smaller batch_size; "
            "otherwise lower batch_size, set clear_cache=True, keep Th_universal/Th_learned at "
            "9/8, or use a GPU with more memory.",
            matched_line=(torch_line or found)[1],
            **common,
        )
    found = find_line(text, _SETTINGS)
    if found:
        return KilosortSettingsError(
            f"Kilosort4 rejected its settings: {found[0].group(0).strip()} Fix the sorter "
            "parameters (see spikelab_ks4.params.DEFAULT_PARAMS) and sort again.",
            matched_line=found[1],
            **common,
        )
    from spikelab.spike_sorting.builtin_classifiers import classify_generic

    generic = classify_generic(SORTER, Path(output_folder or "."), exc, log_text)
    if generic is not None and generic.log_path is None and log_path is not None:
        generic.log_path = str(log_path)
    return generic


__all__ = ["classify_ks4_failure"]
