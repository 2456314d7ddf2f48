"""Caching of intermediates: a folder is reused only when its key and its content still match.

Each cached folder (the binary recording, the sorter output, the waveforms) gets a marker file
``.spikelab_cache.json`` holding the SHA-256 *key* of everything it was made from (input file
sizes and modification times, the recording configuration, the backend and its parameters) and
what each of its files held when written (size, a hash, ``.npy`` headers). The marker is written
last and atomically (temp name, then rename), after the folder's content is complete and has
been read back. So:

* a folder without a marker is incomplete (a run was killed while writing it) and is rebuilt;
* a folder whose marker holds another key was made from other inputs or parameters and is
  rebuilt;
* a folder whose files no longer match the marker (a truncated copy, an edited array) is
  rebuilt, and the reason is logged (``cache_rebuilt``);
* keys chain (the sorting key includes the recording key), so changing an input invalidates
  everything downstream.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import time
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import structlog

from spikelab import atomic

if TYPE_CHECKING:
    from spikeinterface.core import BaseRecording

    from spikelab.spike_sorting.folders import Manifest

log = structlog.get_logger("spikelab.cache")

MARKER = ".spikelab_cache.json"
#: 2: the marker records each file's size, hash and array header (``content``).
CACHE_FORMAT = 2


# -- atomic writes (kept under these names; see spikelab.atomic) --------------------------------
atomic_write_bytes = atomic.write_bytes
atomic_write_text = atomic.write_text
atomic_write_json = atomic.write_json
_json_default = atomic.json_default


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
#: Files up to this size are hashed whole; larger ones by their first and last MiB (and size).
_WHOLE_HASH_BYTES = 8 * 2**20
_EDGE_BYTES = 2**20


def read_marker(folder: str | Path) -> dict[str, Any] | None:
    try:
        return json.loads((Path(folder) / MARKER).read_text())
    except (OSError, ValueError):
        return None


def describe_content(folder: str | Path) -> dict[str, dict[str, Any]]:
    """What each file of ``folder`` holds: size, a SHA-256 (whole, or of both ends of a large
    file) and, for ``.npy`` arrays, the header's shape and dtype.

    Hidden files (markers, temporary files, the sorter child's job) are left out.
    """
    folder = Path(folder)
    content: dict[str, dict[str, Any]] = {}
    for path in sorted(folder.rglob("*")):
        relative = path.relative_to(folder)
        if not path.is_file() or any(part.startswith(".") for part in relative.parts):
            continue
        content[relative.as_posix()] = _describe_file(path)
    return content


def _describe_file(path: Path) -> dict[str, Any]:
    size = path.stat().st_size
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        if size <= _WHOLE_HASH_BYTES:
            digest.update(handle.read())
        else:
            digest.update(handle.read(_EDGE_BYTES))
            handle.seek(size - _EDGE_BYTES)
            digest.update(handle.read(_EDGE_BYTES))
    info: dict[str, Any] = {"size": size, "sha256": digest.hexdigest()}
    if path.suffix == ".npy":
        try:
            array = np.load(path, mmap_mode="r")  # reads the header only; fails when truncated
            info["npy"] = [list(array.shape), array.dtype.str]
            del array
        except (ValueError, OSError):
            info["npy"] = None
    return info


def invalid_reason(folder: str | Path, key: str) -> str | None:
    """Why ``folder`` may not be reused for ``key`` (None when it may).

    It may when its marker holds ``key`` and every file recorded when it was written still has
    the recorded size, hash and array header.
    """
    folder = Path(folder)
    marker = read_marker(folder)
    if not marker or marker.get("format") != CACHE_FORMAT:
        return "no complete cache (no marker)"
    if marker.get("key") != key:
        return "made from other inputs or parameters"
    for name, expected in (marker.get("content") or {}).items():
        path = folder / name
        if not path.is_file():
            return f"{name} is missing"
        found = _describe_file(path)
        if found["size"] != expected.get("size"):
            return f"{name} holds {found['size']} bytes where {expected.get('size')} were written"
        if found.get("npy") != expected.get("npy"):
            return f"{name}'s array header changed ({found.get('npy')} instead of {expected.get('npy')})"
        if found["sha256"] != expected.get("sha256"):
            return f"{name}'s content changed since it was written"
    return None


def is_valid(folder: str | Path, key: str) -> bool:
    """Whether ``folder`` holds complete, unaltered content made from exactly ``key``."""
    return invalid_reason(folder, key) is None


def reusable(folder: str | Path, key: str, *, stage: str, forced: bool = False) -> bool:
    """Whether a stage may reuse ``folder``; logs ``cache_rebuilt`` with the reason when a cache
    was there but no longer holds what was written (a truncated file, a changed input)."""
    reason = invalid_reason(folder, key)
    if reason is None and not forced:
        return True
    if Path(folder).exists() and (reason is not None or forced):
        log.info("cache_rebuilt", stage=stage, folder=str(folder), reason=reason or "recompute requested")
    return False


def mark_valid(folder: str | Path, key: str, **info: Any) -> None:
    """Declare ``folder`` complete for ``key``, recording what each file holds now (call after
    its content is fully written and has been read back)."""
    folder = Path(folder)
    atomic_write_json(
        folder / MARKER,
        {"format": CACHE_FORMAT, "key": key, "written_ns": time.time_ns(), "content": describe_content(folder), **info},
    )


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
