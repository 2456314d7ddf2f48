"""SIGTERM handled like Ctrl-C, and a full disk named as such in every stage.

* :func:`terminate_as_interrupt`: while a sort runs in the main thread, SIGTERM raises
  :class:`~spikelab.errors.SortTerminated` (a ``KeyboardInterrupt``), so the same path as Ctrl-C
  writes the report, stops the sorter child and releases the lock.
* :func:`as_disk_error`: an ``OSError`` ENOSPC raised anywhere in a stage (SpikeInterface's
  binary copy, a pickle, a report) becomes
  :class:`~spikelab.spike_sorting._exceptions.DiskExhaustionError` (status ``disk_exhausted``).
"""

from __future__ import annotations

import contextlib
import errno
import shutil
import signal
import threading
from collections.abc import Iterator
from pathlib import Path

from spikelab.errors import SortTerminated
from spikelab.spike_sorting._exceptions import DiskExhaustionError, SpikeSortingClassifiedError


def _on_sigterm(signum, frame) -> None:
    raise SortTerminated("stopped by SIGTERM; the report was written and the sort lock released")


@contextlib.contextmanager
def terminate_as_interrupt() -> Iterator[None]:
    """Turn SIGTERM into :class:`SortTerminated` for the duration of the block (main thread only)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, _on_sigterm)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _enospc(exc: BaseException) -> OSError | None:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, OSError) and current.errno == errno.ENOSPC:
            return current
        if "No space left on device" in str(current):
            return current if isinstance(current, OSError) else OSError(errno.ENOSPC, str(current))
        current = current.__cause__ or current.__context__
    return None


def as_disk_error(exc: BaseException, stage: str) -> BaseException:
    """``exc`` as a DiskExhaustionError when a full disk caused it, else ``exc`` itself."""
    if isinstance(exc, SpikeSortingClassifiedError):
        return exc
    full = _enospc(exc)
    if full is None:
        return exc
    path = Path(full.filename) if full.filename else None
    folder = next((p for p in ([path] + list(path.parents) if path else []) if p.exists()), None)
    free_gb = round(shutil.disk_usage(folder).free / 1e9, 3) if folder is not None else None
    where = f" writing {path}" if path else ""
    return DiskExhaustionError(
        f"The disk filled up during the {stage} stage{where} (No space left on device); free "
        f"{free_gb} GB there. Free space (or point intermediate_folders/results_folders at a larger "
        "disk) and run again: finished stages are reused.",
        stage=stage, folder=str(folder) if folder else None, free_gb_at_trip=free_gb,
    )
