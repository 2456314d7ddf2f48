"""Caching of intermediates: a folder is reused only when its stored key matches.

Each cached folder (the binary recording, the sorter output, the waveforms) gets a marker file
``.spikelab_cache.json`` holding the SHA-256 *key* of everything it was made from (input file
sizes and modification times, the recording configuration, the backend and its parameters).
The marker is written last and atomically (temp name, then rename), after the folder's content
is complete. So:

* a folder without a marker is incomplete (a run was killed while writing it) and is rebuilt;
* a folder whose marker holds another key was made from other inputs or parameters and is
  rebuilt;
* keys chain (the sorting key includes the recording key), so changing an input invalidates
  everything downstream.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from spikeinterface.core import BaseRecording

    from spikelab.spike_sorting.folders import Manifest

MARKER = ".spikelab_cache.json"
CACHE_FORMAT = 1


# -- atomic writes ----------------------------------------------------------------------------
def atomic_write_bytes(path: str | Path, data: bytes) -> Path:
    """Write ``data`` to ``path`` through a temp file in the same folder, then rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def atomic_write_text(path: str | Path, text: str) -> Path:
    return atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: str | Path, data: Any) -> Path:
    return atomic_write_text(path, json.dumps(data, indent=2, sort_keys=True, default=_json_default))


def _json_default(value: Any) -> Any:
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    if hasattr(value, "items"):
        return dict(value.items())
    return repr(value)


# -- keys -------------------------------------------------------------------------------------
def make_key(*parts: Any) -> str:
    """SHA-256 of the canonical JSON of ``parts``."""
    text = json.dumps(parts, sort_keys=True, default=_json_default, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def file_fingerprints(paths: Iterable[Path]) -> list[list[Any]]:
    """``[name, size, mtime_ns]`` of each file (changing a file changes its fingerprint)."""
    out = []
    for path in sorted(Path(p) for p in paths):
        stat = path.stat()
        out.append([str(path.resolve()), stat.st_size, stat.st_mtime_ns])
    return out


def source_files(source: str | Path | None) -> list[Path]:
    """The files a source consists of (every file of a directory, recursively)."""
    if source is None:
        return []
    source = Path(source)
    if source.is_dir():
        return sorted(p for p in source.rglob("*") if p.is_file() and not p.name.startswith("."))
    return [source] if source.exists() else []


def recording_fingerprint(recording: BaseRecording, source: str | Path | None) -> dict[str, Any]:
    """What identifies a recording's content: its files, or a digest of its traces."""
    info: dict[str, Any] = {
        "channels": [str(c) for c in recording.get_channel_ids()],
        "fs": float(recording.get_sampling_frequency()),
        "samples": [int(recording.get_num_samples(s)) for s in range(recording.get_num_segments())],
        "dtype": str(recording.get_dtype()),
    }
    files = source_files(source)
    if files:
        info["files"] = file_fingerprints(files)
    else:
        # In-memory object: digest a strided sample of the traces (cheap, content-sensitive).
        digest = hashlib.sha256()
        n = recording.get_num_samples(0)
        step = max(1, n // 16)
        for start in range(0, n, step):
            digest.update(np.ascontiguousarray(recording.get_traces(0, start, min(n, start + 256))).tobytes())
        info["traces_sha256"] = digest.hexdigest()
    return info


# -- markers ----------------------------------------------------------------------------------
def read_marker(folder: str | Path) -> dict[str, Any] | None:
    try:
        return json.loads((Path(folder) / MARKER).read_text())
    except (OSError, ValueError):
        return None


def is_valid(folder: str | Path, key: str) -> bool:
    """Whether ``folder`` holds complete content made from exactly ``key``."""
    marker = read_marker(folder)
    return bool(marker) and marker.get("key") == key and marker.get("format") == CACHE_FORMAT


def mark_valid(folder: str | Path, key: str, **info: Any) -> None:
    """Declare ``folder`` complete for ``key`` (call after its content is fully written)."""
    atomic_write_json(Path(folder) / MARKER, {"format": CACHE_FORMAT, "key": key, **info})


def reset(folder: str | Path, owner: Manifest) -> Path:
    """Empty ``folder`` (its marker goes first, so a kill mid-way leaves it invalid).

    ``owner`` is the manifest of the folder above: ``folder`` is recorded there as the pipeline's
    own first, and a ``folder`` that exists without being listed (the user's) is never deleted.

    Raises
    ------
    FolderConflictError
        When ``folder`` exists and ``owner`` does not list it.
    """
    folder = owner.claim(folder)
    (folder / MARKER).unlink(missing_ok=True)
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True, exist_ok=True)
    return folder
