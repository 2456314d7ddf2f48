"""Failure classifiers: turn an exception and a sorter log into a classified failure.

Each backend ships its own classifier (``classify_ks2_failure``, ``classify_ks4_failure``,
``classify_rt_sort_failure``); they are importable here, resolved from the installed backend
plugins. Importing one whose backend is not installed raises an ImportError naming the
``pip install`` that provides it.

Helpers for classifier authors: :func:`exception_chain_text`, :func:`read_sorter_log`,
:func:`find_line`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from spikelab.plugins import plugin_manager_in_use

if TYPE_CHECKING:
    from spikelab.plugins import SpikeLabPluginManager
    from spikelab.spike_sorting._exceptions import SpikeSortingClassifiedError

#: GPU out-of-memory signatures of torch and the CUDA libraries (MATLAB's included), shared by
#: every backend; a backend adds its own tool's wording to it.
GPU_OOM = re.compile(
    r"CUDA out of memory|torch\.(?:cuda\.)?OutOfMemoryError|CUDA_ERROR_OUT_OF_MEMORY"
    r"|Out of memory on device|cudaErrorMemoryAllocation|CUDA error status: out of memory"
    r"|CUDA error was:\s*out of memory"
    r"|CUBLAS_STATUS_ALLOC_FAILED|CUFFT_ALLOC_FAILED|CUDNN_STATUS_ALLOC_FAILED|CUSOLVER_STATUS_ALLOC_FAILED",
    re.I,
)


def classified_in_chain(exc: BaseException | None):
    """The classified error a runner already raised, found anywhere in ``exc``'s chain (a child
    process's :class:`SorterProcessError` may wrap it), or None.

    Parameters
    ----------
    exc : BaseException or None
        The failure.

    Returns
    -------
    SpikeSortingClassifiedError or None
        The first classified exception in the ``__cause__``/``__context__`` chain.
    """
    from spikelab.spike_sorting._exceptions import SpikeSortingClassifiedError

    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        if isinstance(exc, SpikeSortingClassifiedError):
            return exc
        seen.add(id(exc))
        exc = exc.__cause__ or exc.__context__
    return None


def exception_chain_text(exc: BaseException | None) -> str:
    """The messages of ``exc`` and its ``__cause__``/``__context__`` chain (cycle-safe).

    Includes a child process's traceback text when the exception carries one.
    """
    parts: list[str] = []
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        text = f"{type(exc).__module__}.{type(exc).__qualname__}: {exc}"
        if text not in parts:
            parts.append(text)
        traceback_text = getattr(exc, "traceback_text", None)
        if traceback_text and traceback_text not in parts:
            parts.append(traceback_text)
        exc = exc.__cause__ or exc.__context__
    return "\n".join(parts)


def read_sorter_log(
    output_folder: Path | str | None, names: Iterable[str], max_bytes: int = 2_000_000
) -> tuple[str, Path | None]:
    """Read the first existing log among ``names`` in ``output_folder`` (or its ``sorter_output``).

    Only the last ``max_bytes`` are read, so a huge log cannot exhaust memory.
    """
    if output_folder is None:
        return "", None
    folder = Path(output_folder)
    for name in names:
        for candidate in (folder / name, folder / "sorter_output" / name):
            if candidate.is_file():
                with open(candidate, "rb") as handle:
                    handle.seek(0, 2)
                    size = handle.tell()
                    handle.seek(max(0, size - max_bytes))
                    return handle.read().decode("utf-8", errors="replace"), candidate
    return "", None


def find_line(text: str, pattern: str | re.Pattern[str], flags: int = 0) -> tuple[re.Match[str], str] | None:
    """The first regex match in ``text`` and the whole line it sits on, or None."""
    match = re.search(pattern, text, flags) if isinstance(pattern, str) else pattern.search(text)
    if match is None:
        return None
    start = text.rfind("\n", 0, match.start()) + 1
    end = text.find("\n", match.end())
    return match, text[start : end if end != -1 else len(text)].strip()


def get_classifier(name: str, *, plugins: SpikeLabPluginManager | None = None) -> Callable:
    """The classifier function called ``name`` from the installed backends.

    Parameters
    ----------
    name : str
        ``classify_ks4_failure``, ...
    plugins : SpikeLabPluginManager, optional
        The backends to look in; default: the manager in use.

    Raises
    ------
    ImportError
        When the backend providing a documented classifier is not installed.
    """
    manager = plugin_manager_in_use(plugins)
    for backend in manager.sorters().values():
        if backend.classifier_name == name and backend.classifier is not None:
            return backend.classifier
    missing = manager.unavailable(name, name)
    if missing is not None:
        raise ImportError(missing)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __getattr__(name: str) -> Callable:
    if name.startswith("classify_"):
        return get_classifier(name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def classify_failure(
    sorter: str, output_folder: Path | str, exc: BaseException, *, plugins: SpikeLabPluginManager | None = None
) -> SpikeSortingClassifiedError | None:
    """Classify with the whole plugin chain (backend classifier first, then generic ones).

    ``plugins`` is the manager whose chain runs (default: the manager in use).
    """
    manager = plugin_manager_in_use(plugins)
    backend = manager.sorters().get(sorter)
    log_text = ""
    if backend is not None:
        log_text, _ = read_sorter_log(output_folder, [backend.log_name])
    return manager.classify_failure(sorter, Path(output_folder), exc, log_text)


__all__ = [
    "GPU_OOM",
    "classified_in_chain",
    "classify_failure",
    "exception_chain_text",
    "find_line",
    "get_classifier",
    "read_sorter_log",
]
