"""Where a recording's intermediates and results go, and what the pipeline created there.

Defaults (when the caller passes no folders): beside the input,
``<input parent>/spikelab_intermediate/<name>_<sorter>/`` and
``<input parent>/sorted_<sorter>/<name>/`` (the current directory for an in-memory recording).
They are stable across calls, so a rerun finds its cache.

:class:`Manifest` records every path the pipeline creates in an intermediate folder; cleanup
(``delete_inter``) removes only those, never files the user put there, and never results.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import attrs

from spikelab.spike_sorting.cache import atomic_write_json

MANIFEST_NAME = ".spikelab_manifest.json"


def default_folders(name: str, source: str | Path | None, sorter: str) -> tuple[Path, Path]:
    """Default ``(intermediate, results)`` folders of the recording called ``name``."""
    if source is None:
        base = Path.cwd()
    else:
        source = Path(source)
        base = source.parent if source.is_file() or not source.exists() else source.parent
    return base / "spikelab_intermediate" / f"{name}_{sorter}", base / f"sorted_{sorter}" / name


def resolve_folders(
    names: list[str],
    sources: list[str | Path | None],
    sorter: str,
    intermediate_folders: list[str | Path] | str | Path | None,
    results_folders: list[str | Path] | str | Path | None,
) -> list[tuple[Path, Path]]:
    """One ``(intermediate, results)`` pair per recording.

    Raises
    ------
    ValueError
        When a folder list's length differs from the number of recordings.
    """
    def as_list(value, kind: str) -> list[Path | None]:
        if value is None:
            return [None] * len(names)
        if isinstance(value, (str, Path)):
            value = [value]
        value = [Path(v) for v in value]
        if len(value) != len(names):
            raise ValueError(
                f"{kind} has {len(value)} entries for {len(names)} recordings; pass one folder per "
                "recording (or none for the defaults)."
            )
        return value

    inter = as_list(intermediate_folders, "intermediate_folders")
    results = as_list(results_folders, "results_folders")
    pairs = []
    for name, source, i, r in zip(names, sources, inter, results):
        d_inter, d_results = default_folders(name, source, sorter)
        pairs.append((i or d_inter, r or d_results))
    seen: set[Path] = set()
    for i, _ in pairs:
        if i.resolve() in seen:
            raise ValueError(f"Two recordings share the intermediate folder {i}; give each its own.")
        seen.add(i.resolve())
    return pairs


@attrs.define
class Manifest:
    """The paths (relative to ``folder``) the pipeline created inside an intermediate folder."""

    folder: Path
    created_folder: bool = False
    paths: list[str] = attrs.field(factory=list)

    @classmethod
    def open(cls, folder: str | Path) -> Manifest:
        """Load the folder's manifest, creating the folder (and noting that) if needed."""
        folder = Path(folder)
        created = not folder.exists()
        folder.mkdir(parents=True, exist_ok=True)
        try:
            data = json.loads((folder / MANIFEST_NAME).read_text())
            return cls(folder, bool(data.get("created_folder")), list(data.get("paths", [])))
        except (OSError, ValueError):
            manifest = cls(folder, created, [])
            manifest.save()
            return manifest

    def add(self, path: str | Path) -> Path:
        """Record ``path`` (inside the folder) as created by the pipeline; returns it."""
        path = Path(path)
        relative = str(path.resolve().relative_to(self.folder.resolve()))
        if relative not in self.paths:
            self.paths.append(relative)
            self.save()
        return path

    def save(self) -> None:
        atomic_write_json(
            self.folder / MANIFEST_NAME, {"created_folder": self.created_folder, "paths": self.paths}
        )

    def cleanup(self) -> list[Path]:
        """Delete what the pipeline created; the folder too if it made it and it is now empty."""
        removed = []
        for relative in self.paths:
            path = self.folder / relative
            if path.is_dir():
                shutil.rmtree(path, ignore_errors=True)
                removed.append(path)
            elif path.exists():
                path.unlink()
                removed.append(path)
        (self.folder / MANIFEST_NAME).unlink(missing_ok=True)
        self.paths = []
        if self.created_folder and self.folder.is_dir() and not any(self.folder.iterdir()):
            self.folder.rmdir()
        return removed
