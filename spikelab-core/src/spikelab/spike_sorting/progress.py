"""Progress a person can see while the sorter runs: a bar with the elapsed time and its own lines.

The sorter writes only to its log file (it runs in a child process, or inline with its output
redirected). :func:`follow_sorter_log` tails that file while the sort runs: the bar shows the
elapsed time and the sorter's latest line, and, when :func:`echo_sorter_output` says so, each new
line is copied to stderr above the bar, the way SpikeInterface's ``run_sorter(verbose=True)``
shows a sorter's output. ``execution.sorter_output`` decides: ``"auto"`` copies the lines when
progress bars are on and stderr is a terminal (quiet in batch jobs and pipes), ``"always"`` and
``"never"`` force it.
"""

from __future__ import annotations

import contextlib
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

if TYPE_CHECKING:
    from spikelab.spike_sorting.config import SortingPipelineConfig

#: Characters of the sorter's latest line shown after the bar.
POSTFIX_CHARS = 70


def echo_sorter_output(config: SortingPipelineConfig, stream: TextIO | None = None) -> bool:
    """Whether the sorter's log lines should be copied to ``stream`` (default stderr)."""
    mode = getattr(config.execution, "sorter_output", "auto")
    if mode in ("always", "never"):
        return mode == "always"
    stream = stream or sys.stderr
    return bool(config.execution.progress_bar) and bool(getattr(stream, "isatty", lambda: False)())


def _last_state(line: str) -> str:
    """What a terminal would show of ``line``: the last part a carriage return redrew (tqdm bars)."""
    parts = [part for part in line.split("\r") if part.strip()]
    return parts[-1].rstrip() if parts else ""


class _Follower:
    """Reads lines appended to ``path``; a carriage-return-redrawn line keeps its last state."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.offset = path.stat().st_size if path.is_file() else 0
        self.partial = ""

    def new_lines(self) -> list[str]:
        if not self.path.is_file():
            return []
        size = self.path.stat().st_size
        if size < self.offset:  # the log was reset (a new attempt)
            self.offset = 0
        if size == self.offset:
            return []
        with open(self.path, "rb") as handle:
            handle.seek(self.offset)
            chunk = handle.read(size - self.offset)
        self.offset = size
        text = self.partial + chunk.decode("utf-8", errors="replace")
        *complete, self.partial = text.split("\n")
        return [shown for line in complete if (shown := _last_state(line))]


@contextlib.contextmanager
def follow_sorter_log(
    log_path: Path, *, desc: str, bar: bool, echo: bool, poll_s: float = 0.5, stream: TextIO | None = None
) -> Iterator[None]:
    """While the body runs, show a bar for the sort and (``echo``) copy new log lines to ``stream``.

    Parameters
    ----------
    log_path : Path
        The sorter's log file (it may not exist yet).
    desc : str
        The bar's label, e.g. ``"sort (kilosort4)"``.
    bar : bool
        Show the bar (elapsed time and the latest line).
    echo : bool
        Copy each new log line to ``stream``.
    poll_s : float, default: 0.5
        How often the log is read.
    stream : file, optional
        Where bar and lines go (default stderr).
    """
    if not bar and not echo:
        yield
        return
    from tqdm.auto import tqdm

    stream = stream or sys.stderr
    follower = _Follower(Path(log_path))
    progress = tqdm(total=None, desc=desc, bar_format="{desc}: {elapsed}{postfix}", file=stream,
                    disable=not bar, leave=True, dynamic_ncols=True)
    stop = threading.Event()

    def show(lines: list[str]) -> None:
        for line in lines:
            if echo:
                if bar:
                    progress.write(f"  | {line}", file=stream)
                else:
                    print(f"  | {line}", file=stream, flush=True)
        if lines and bar and not echo:  # the latest line after the elapsed time, when not printed above
            progress.set_postfix_str(lines[-1].strip()[:POSTFIX_CHARS], refresh=False)
        progress.refresh()

    def loop() -> None:
        while not stop.wait(poll_s):
            try:
                show(follower.new_lines())
            except OSError:
                continue

    thread = threading.Thread(target=loop, name="spikelab-sorter-log", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=5.0)
        with contextlib.suppress(OSError):
            show(follower.new_lines() + [shown for shown in [_last_state(follower.partial)] if shown])
        progress.close()
