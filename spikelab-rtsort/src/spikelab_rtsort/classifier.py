"""``classify_rt_sort_failure``: RT-Sort's failure signatures mapped to SpikeLab's classes.

Evidence is the exception chain plus ``rt_sort.log`` in the output folder. In priority order:
model loading (``ModelLoadingError``), GPU out of memory (``GPUOutOfMemoryError``, retried by the
pipeline with a halved ``rt_sort_batch_size``), no propagation sequence
(``InsufficientActivityError``), then the generic signatures every backend shares.
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

from .runner import LOG_NAME, SORTER

_MODEL = re.compile(
    r"does not contain init_dict\.json and state_dict\.pt.*|Error\(s\) in loading state_dict.*"
    r"|Invalid architecture parameter.*|Cannot read .*init_dict\.json.*|init_dict\.json lacks.*"
    r"|PyTorch is required for RT-Sort|No module named ['\"]torch['\"]"
)
_MODEL_PATH = re.compile(r"The folder (.+?) does not contain init_dict")
_MISSING = re.compile(r"\(missing: ([^)]+)\)")
_NO_SEQUENCES = re.compile(
    r"0 preliminary propagation sequences|0 sequences remain"
    r"|'NoneType' object has no attribute 'sort_offline'"
)




def classify_rt_sort_failure(output_folder, exc):
    """Classify an RT-Sort failure, or return None when no signature matches.

    Parameters
    ----------
    output_folder : Path or str
        The sorter folder (its ``rt_sort.log`` is read).
    exc : BaseException
        What the sort raised; its ``__cause__``/``__context__`` chain is searched too.

    Returns
    -------
    error : SpikeSortingClassifiedError or None
        ``ModelLoadingError`` (status ``environment``) with ``model_path``,
        ``GPUOutOfMemoryError`` (``oom_gpu``), ``InsufficientActivityError`` (``not_sortable``),
        a generic class (HDF5 filter, Docker, MemoryError), or None.
    """
    already = classified_in_chain(exc)
    if already is not None:
        return already
    log_text, log_path = read_sorter_log(output_folder, (LOG_NAME,))
    text = exception_chain_text(exc) + "\n" + log_text
    common = {"sorter": SORTER, "log_path": log_path}
    found = find_line(text, _MODEL)
    if found:
        path = _MODEL_PATH.search(text)
        missing = _MISSING.search(text)
        return ex.ModelLoadingError(
            "RT-Sort could not load its detection model. Pass rt_sort_model_path= a folder with "
            "init_dict.json and state_dict.pt (train one with `spikelab rtsort train`), or "
            "install torch.",
            matched_line=found[1], model_path=path.group(1) if path else None,
            missing=missing.group(1) if missing else None, **common)
    found = find_line(text, GPU_OOM)
    if found:
        return ex.GPUOutOfMemoryError(
            "RT-Sort ran out of GPU memory during detection inference. The pipeline retries with "
            "a smaller rt_sort_batch_size; otherwise lower it yourself or use the CPU.",
            matched_line=found[1], **common)
    found = find_line(text, _NO_SEQUENCES)
    if found:
        return ex.InsufficientActivityError(
            "RT-Sort found no propagation sequence: too few co-detected spikes. Use a longer "
            "detection window (rt_sort_detection_window_s), check the recording's gain, or lower "
            "the detection thresholds in rt_sort_params.",
            matched_line=found[1], units_at_failure=0, **common)
    from spikelab.spike_sorting.builtin_classifiers import classify_generic

    generic = classify_generic(SORTER, Path(output_folder or "."), exc, log_text)
    if generic is not None and generic.log_path is None and log_path is not None:
        generic.log_path = str(log_path)
    return generic


__all__ = ["classify_rt_sort_failure"]
