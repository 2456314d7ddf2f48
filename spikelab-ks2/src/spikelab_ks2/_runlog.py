"""Shared by both runners: the sorter log, SIGTERM handling, the run record and the output check."""

from __future__ import annotations

import contextlib
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any

from spikelab.spike_sorting import provenance
from spikelab.spike_sorting._exceptions import SorterProcessError
from spikelab_ks2.params import LOG_NAME, NAME

#: What the runners record in the sorter folder (read back by ``read_sorting``).
RUN_RECORD = provenance.RUN_RECORD
#: Written into the log before each run, so a retry's classification ignores earlier attempts.
RUN_MARKER = "== spikelab-ks2 run started"
#: phy files a successful Kilosort2 run always writes.
REQUIRED_OUTPUTS = ("spike_times.npy", "spike_clusters.npy", "templates.npy", "params.py")


class SorterLog:
    """Kilosort2's log (``kilosort2.log`` in the sorter folder), line by line.

    When the job's own log is another file, every line is echoed to stdout too (the child
    process's stdout goes to the job log, which the inactivity watchdog watches).
    """

    def __init__(self, sorter_folder: Path, job_log: Path | None, how: str = "") -> None:
        self.path = sorter_folder / LOG_NAME
        self._how = how
        same = job_log is not None and Path(job_log).resolve() == self.path.resolve()
        self._echo = job_log is not None and not same
        self._handle: IO[bytes] | None = None

    def __enter__(self) -> SorterLog:
        self._handle = open(self.path, "ab")
        self.write(f"{RUN_MARKER} {time.strftime('%Y-%m-%d %H:%M:%S')} ({self._how}) ==\n")
        return self

    def __exit__(self, *exc_info: Any) -> None:
        if self._handle is not None:
            self._handle.close()

    def write(self, data: bytes | str) -> None:
        raw = data.encode("utf-8", errors="replace") if isinstance(data, str) else data
        assert self._handle is not None, "SorterLog used outside its with block"
        self._handle.write(raw)
        self._handle.flush()
        if self._echo:
            sys.stdout.write(raw.decode("utf-8", errors="replace"))
            sys.stdout.flush()

    def tail(self, n_bytes: int = 3000) -> str:
        try:
            with open(self.path, "rb") as handle:
                handle.seek(0, 2)
                handle.seek(max(0, handle.tell() - n_bytes))
                return handle.read().decode("utf-8", errors="replace")
        except OSError:
            return ""


@contextlib.contextmanager
def stop_on_sigterm(stop: Callable[[], None]) -> Iterator[None]:
    """While active, SIGTERM calls ``stop()`` (end MATLAB / the container) and then exits.

    Only the main thread may install signal handlers; elsewhere this does nothing.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, frame: Any) -> None:
        with contextlib.suppress(Exception):
            stop()
        raise SystemExit(128 + signum)

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def write_run_record(folder: Path, record: dict[str, Any]) -> Path:
    """Write the run record (parameters, binary, channel ids, how it ran) through core."""
    return provenance.write_run_record(folder, record)


def read_run_record(folder: Path) -> dict[str, Any]:
    return provenance.read_run_record(folder)


def failure(log: SorterLog, exit_code: int | None, how: str) -> SorterProcessError:
    """The error for a non-zero exit: the log tail is its message end and its evidence."""
    tail = log.tail()
    return SorterProcessError(
        f"{NAME} ({how}) exited with status {exit_code}; see {log.path}. Last log lines:\n{tail[-1500:]}",
        sorter=NAME,
        exit_code=exit_code,
        log_path=str(log.path),
        traceback_text=tail,
    )


def check_outputs(folder: Path, log: SorterLog, how: str) -> None:
    """Raise when a run that exited 0 left no phy output (MATLAB quitting early, a wrong folder)."""
    missing = [name for name in REQUIRED_OUTPUTS if not (folder / name).is_file()]
    if missing:
        error = failure(log, 0, how)
        raise SorterProcessError(
            f"{NAME} ({how}) exited normally but did not write {', '.join(missing)} in {folder}. "
            f"Last log lines:\n{log.tail()[-1500:]}",
            sorter=NAME,
            exit_code=0,
            log_path=error.log_path,
            traceback_text=error.traceback_text,
        )


def remove_temp_files(folder: Path, delete_temp_wh: bool) -> None:
    if delete_temp_wh:
        (folder / "temp_wh.dat").unlink(missing_ok=True)
