"""Atomic file writes and the one JSON encoder every SpikeLab file goes through.

A write goes to a temporary file beside its target, named ``.<name>.<random>.tmp``, is flushed
and fsynced, then renamed over the target (and the folder is fsynced), so a reader sees the old
file or the new one, never half of one. A killed run leaves only ``.*.tmp`` files, which the
pipeline removes at its next start.

* :func:`atomic_open` yields a file handle (``numpy.save``, ``pickle.dump``, ``torch.save``);
* :func:`atomic_path` yields a temporary path, for writers that want a file name (h5py);
* :func:`write_bytes`, :func:`write_text`, :func:`write_json` for whole contents;
* :func:`atomic_folder` yields a staging folder (``.<name>.<random>.tmp``) for writers that make a
  whole folder (phy, a SpikeInterface binary folder), renamed into place when complete;
* :func:`json_default` turns numpy values, paths, sets and mappings into JSON.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import numpy as np

from spikelab.errors import InputError

#: The process's umask, read once (reading it means setting it), so written files get the usual
#: permissions rather than ``mkstemp``'s owner-only 0600.
_UMASK = os.umask(0o022)
os.umask(_UMASK)


def _temporary(path: Path, suffix: str = ".tmp") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=suffix, dir=path.parent)
    try:
        os.fchmod(fd, 0o666 & ~_UMASK)
    finally:
        os.close(fd)
    return Path(tmp)


def _commit(tmp: Path, path: Path) -> None:
    os.replace(tmp, path)
    with contextlib.suppress(OSError):  # make the rename itself durable (not possible everywhere)
        fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


@contextlib.contextmanager
def atomic_path(path: str | Path, *, suffix: str = ".tmp") -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success it is fsynced and renamed to ``path``.

    ``suffix`` ends the temporary name, for writers that insist on an extension (pynwb warns
    unless a file ends in ``.nwb``: pass ``suffix=".tmp.nwb"``).
    """
    path = Path(path)
    tmp = _temporary(path, suffix)
    try:
        yield tmp
        with open(tmp, "rb+") as handle:
            os.fsync(handle.fileno())
        _commit(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


@contextlib.contextmanager
def atomic_open(path: str | Path, mode: str = "wb", encoding: str | None = None) -> Iterator[IO[Any]]:
    """Yield a handle on a temporary file that replaces ``path`` when the block succeeds."""
    if "b" not in mode and encoding is None:
        encoding = "utf-8"
    with atomic_path(path) as tmp, open(tmp, mode, encoding=encoding) as handle:
        yield handle
        handle.flush()


@contextlib.contextmanager
def atomic_folder(path: str | Path, *, overwrite: bool = False) -> Iterator[Path]:
    """Yield an empty staging folder beside ``path``; when the block succeeds, every file in it is
    fsynced and the folder renamed to ``path``. On failure the staging folder is removed and
    ``path`` is left as it was.

    ``overwrite=True`` replaces an existing ``path`` (only once the new folder is complete);
    otherwise an existing ``path`` is an :class:`~spikelab.errors.InputError` before anything is
    written.
    """
    target = Path(path)
    if target.exists() and not overwrite:
        raise InputError(f"{target} already exists; pass overwrite=True (CLI: --overwrite) to replace it.")
    target.parent.mkdir(parents=True, exist_ok=True)
    # mkdir (not mkdtemp, which makes 0700 folders) so the folder gets the user's umask
    staging = target.parent / f".{target.name}.{uuid.uuid4().hex[:12]}.tmp"
    staging.mkdir()
    try:
        yield staging
        for file in staging.rglob("*"):
            if file.is_file() and not file.is_symlink():
                with open(file, "rb") as handle:
                    os.fsync(handle.fileno())
        if target.exists():
            shutil.rmtree(target)
        _commit(staging, target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def write_bytes(path: str | Path, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically; returns ``path``."""
    with atomic_open(path, "wb") as handle:
        handle.write(data)
    return Path(path)


def write_text(path: str | Path, text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically; returns ``path``."""
    return write_bytes(path, text.encode("utf-8"))


def write_json(path: str | Path, data: Any, *, indent: int | None = 2, sort_keys: bool = True) -> Path:
    """Write ``data`` as JSON (through :func:`json_default`) to ``path`` atomically."""
    return write_text(path, dumps(data, indent=indent, sort_keys=sort_keys))


def dumps(data: Any, **kwargs: Any) -> str:
    """``json.dumps`` with :func:`json_default` (non-finite floats stay as JSON allows them)."""
    return json.dumps(data, default=json_default, **kwargs)


def json_default(value: Any) -> Any:
    """JSON for what ``json`` cannot write itself: numpy scalars and arrays, paths, sets, mappings."""
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


__all__ = ["atomic_open", "atomic_path", "dumps", "json_default", "write_bytes", "write_json", "write_text"]
