"""Disk helpers shared by preflight and the disk watchdog."""

from __future__ import annotations

import heapq
import os
import shutil
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import NamedTuple


class Usage(NamedTuple):
    total: int
    used: int
    free: int


#: ``probe(path) -> (total, used, free)`` in bytes, like :func:`shutil.disk_usage`.
DiskProbe = Callable[[Path], Usage]


def nearest_existing(path: Path | str) -> Path:
    """``path`` or its closest existing ancestor (folders are often created later)."""
    path = Path(path).absolute()
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def free_bytes(path: Path | str, probe: DiskProbe | None = None) -> int:
    """Free bytes on the volume holding ``path`` (or its closest existing ancestor)."""
    where = nearest_existing(path)
    usage = (probe or shutil.disk_usage)(where)
    return int(usage[2])


def volume_id(path: Path | str) -> int:
    """An id shared by paths on the same file system (``st_dev``)."""
    return nearest_existing(path).stat().st_dev


def largest_files(
    folders: Iterable[Path | str], *, limit: int = 10, max_depth: int = 4, timeout_s: float = 5.0
) -> list[dict[str, object]]:
    """The ``limit`` biggest files under ``folders`` (bounded depth and time), biggest first."""
    deadline = time.monotonic() + timeout_s
    heap: list[tuple[int, str]] = []
    seen: set[str] = set()
    for folder in folders:
        root = Path(folder)
        if not root.is_dir() or str(root) in seen:
            continue
        seen.add(str(root))
        base_depth = len(root.parts)
        for dirpath, dirnames, filenames in os.walk(root):
            if time.monotonic() > deadline:
                break
            if len(Path(dirpath).parts) - base_depth >= max_depth:
                dirnames[:] = []
            for name in filenames:
                full = os.path.join(dirpath, name)
                try:
                    size = os.lstat(full).st_size
                except OSError:
                    continue
                item = (size, full)
                if len(heap) < limit:
                    heapq.heappush(heap, item)
                elif size > heap[0][0]:
                    heapq.heapreplace(heap, item)
    return [{"path": path, "size_gb": round(size / 1e9, 4)} for size, path in sorted(heap, reverse=True)]
