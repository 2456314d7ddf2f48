"""Shared pieces of spikelab-si's tests: real error texts SpikeInterface's sorters print."""

from __future__ import annotations

from pathlib import Path

DATA = Path(__file__).with_name("data")

#: numpy's own wording when an allocation fails (numpy 2.x, inside a sorter's traceback).
NUMPY_OOM = (
    "Spike sorting error trace:\nTraceback (most recent call last):\n"
    '  File "/site-packages/spikeinterface/sortingcomponents/matching/circus.py", line 210, in compute_matching\n'
    "numpy._core._exceptions._ArrayMemoryError: Unable to allocate 11.2 GiB for an array with shape "
    "(1507328, 1000) and data type float64\n\nSpike sorting failed. You can inspect the runtime trace "
    "in /tmp/sort/sorter_output/spikeinterface_log.json.\n"
)
#: concurrent.futures' wording when the kernel's OOM killer ends a parallel worker.
BROKEN_POOL = (
    "Spike sorting error trace:\nTraceback (most recent call last):\n"
    "concurrent.futures.process.BrokenProcessPool: A process in the process pool was terminated "
    "abruptly while the future was running or pending.\n"
)
#: SpikeInterface's own check of sorter parameters (basesorter.set_params_to_folder).
INVALID_PARAMS = (
    "ValueError: Invalid parameters: ['detect_treshold'] \nValid parameters are: "
    "dict_keys(['apply_preprocessing', 'detect_threshold'])\n"
)
#: run_sorter's check when a sorter's package is missing (basesorter.initialize_folder).
NOT_INSTALLED = (
    "Exception: The sorter mountainsort5 is not installed. Please install it with:\n\n"
    "To use Mountainsort5 run:\n\n       >>> pip install mountainsort5\n"
)


def noise_log(sorter: str) -> str:
    """What ``sorter`` printed and raised on 3 s of pure noise (SpikeInterface 0.105.3)."""
    return (DATA / f"{sorter}_noise.log").read_text()
