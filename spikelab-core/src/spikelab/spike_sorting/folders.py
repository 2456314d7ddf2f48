"""Where a recording's intermediates and results go, and what the pipeline owns there.

Defaults (when the caller passes no folders): beside the input,
``<input parent>/spikelab_intermediate/<name>_<sorter>/`` and
``<input parent>/sorted_<sorter>/<name>/`` (the current directory for an in-memory recording,
whose name is reduced to one safe path component). They are stable across calls, so a rerun
finds its cache.

Ownership: each managed folder (intermediate and results) has a :class:`Manifest` listing the
paths the pipeline created there. The pipeline deletes or overwrites only those; a path it
would write that exists but is not listed belongs to the user and is an error
(:class:`~spikelab.errors.FolderConflictError`). :func:`check_layout` refuses such layouts, and
overlapping folders, before any work.
"""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Sequence
from itertools import combinations
from pathlib import Path

import attrs

from spikelab.errors import FolderConflictError
from spikelab.spike_sorting.cache import atomic_write_json

MANIFEST_NAME = ".spikelab_manifest.json"

#: What the pipeline writes directly in an intermediate folder (each a folder it may reset).
INTERMEDIATE_NAMES = ("recording", "sorter_output", "waveforms", "_canary")
#: What the pipeline writes directly in a results folder.
RESULT_NAMES = (
    "config_used.json", "recording_report.json", "sorting_report.md", "sorting_report_footprints.png",
    "sorting_report_quality.png", "curation_history.json", "sorted_spikedata_curated.pkl",
    "sorted_spikedata.pkl", "sorter_logs", "watchdog_events.jsonl", "disk_exhaustion_report.json",
    "run_history.jsonl",
)


def safe_name(name: str) -> str:
    """``name`` as one path component (an in-memory recording's name may hold ``/`` or ``..``)."""
    cleaned = re.sub(r"[^\w.+-]+", "_", str(name)).strip("._")
    return cleaned or "recording"


def default_folders(name: str, source: str | Path | None, sorter: str) -> tuple[Path, Path]:
    """Default ``(intermediate, results)`` folders of the recording called ``name``."""
    name = safe_name(name)
    if source is None:
        base = Path.cwd()
    else:
        source = Path(source)
        base = source.parent if source.is_file() or not source.exists() else source.parent
    return base / "spikelab_intermediate" / f"{name}_{sorter}", base / f"sorted_{sorter}" / name


def resolve_folders(
    names: Sequence[str],
    sources: Sequence[str | Path | None],
    sorter: str,
    intermediate_folders: Sequence[str | Path] | str | Path | None,
    results_folders: Sequence[str | Path] | str | Path | None,
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


def check_layout(sources: Sequence[str | Path | None], folders: Sequence[tuple[Path, Path]]) -> None:
    """Refuse, before any work, folders that would make the pipeline touch what is not its own.

    Parameters
    ----------
    sources : sequence of str, Path or None
        Each recording's input path (None for an in-memory recording).
    folders : sequence of (Path, Path)
        Each recording's ``(intermediate, results)`` folders.

    Raises
    ------
    FolderConflictError
        When two managed folders are equal or nested (``results_folders=[R, R]``), when an input
        lies inside a managed folder or a managed folder inside a directory input, or when a path
        the pipeline writes already exists without being listed in its folder's manifest.
    """
    managed = [(f"intermediate folder of recording {n + 1}", Path(i)) for n, (i, _) in enumerate(folders)]
    managed += [(f"results folder of recording {n + 1}", Path(r)) for n, (_, r) in enumerate(folders)]
    for (kind_a, a), (kind_b, b) in combinations(managed, 2):
        if _inside(a, b) or _inside(b, a):
            raise FolderConflictError(
                f"The {kind_a} ({a}) and the {kind_b} ({b}) overlap, so one run would overwrite the "
                "other's files; give every recording its own intermediate and results folders, side by side."
            )
    for source in sources:
        if source is None:
            continue
        source = Path(source)
        for kind, folder in managed:
            if _inside(source, folder):
                raise FolderConflictError(
                    f"The input {source} lies inside the {kind} ({folder}), where SpikeLab writes and "
                    "deletes its own files; choose a folder outside your data (or move the input)."
                )
            if source.is_dir() and _inside(folder, source):
                raise FolderConflictError(
                    f"The {kind} ({folder}) lies inside the input folder {source}, so SpikeLab would "
                    "write into your data; choose a folder outside it."
                )
    for inter, results in folders:
        Manifest.read(inter).check_free(INTERMEDIATE_NAMES, "intermediate_folders")
        Manifest.read(results, adopt=RESULT_NAMES).check_free(RESULT_NAMES, "results_folders")


def _inside(path: Path, folder: Path) -> bool:
    """Whether ``path`` is ``folder`` or lies below it (both resolved, symlinks followed)."""
    path, folder = Path(path).resolve(), Path(folder).resolve()
    return path == folder or folder in path.parents


@attrs.define
class Manifest:
    """The paths (relative to ``folder``) the pipeline created inside a folder it manages."""

    folder: Path
    created_folder: bool = False
    paths: list[str] = attrs.field(factory=list)

    @classmethod
    def read(cls, folder: str | Path, *, adopt: Sequence[str] = ()) -> Manifest:
        """The folder's manifest as stored (empty when none), creating nothing.

        A results folder written before manifests existed holds a SpikeLab ``recording_report.json``;
        with ``adopt``, those of the names present there count as the pipeline's own.
        """
        folder = Path(folder)
        try:
            data = json.loads((folder / MANIFEST_NAME).read_text())
            return cls(folder, bool(data.get("created_folder")), list(data.get("paths", [])))
        except (OSError, ValueError):
            pass
        paths = [name for name in adopt if (folder / name).exists()] if _legacy_results(folder) else []
        return cls(folder, not folder.exists(), paths)

    @classmethod
    def open(cls, folder: str | Path, *, adopt: Sequence[str] = (), created: bool | None = None) -> Manifest:
        """Load the folder's manifest, creating the folder (and noting that) if needed.

        ``created`` says whether the pipeline made the folder, when it was made before this call
        (the sort lock is taken inside it first).
        """
        manifest = cls.read(folder, adopt=adopt)
        if created is not None and not (manifest.folder / MANIFEST_NAME).is_file():
            manifest.created_folder = created
        manifest.folder.mkdir(parents=True, exist_ok=True)
        if not (manifest.folder / MANIFEST_NAME).is_file():
            manifest.save()
        return manifest

    def owns(self, path: str | Path) -> bool:
        """Whether ``path`` (or a folder above it inside ``folder``) is listed as created by the pipeline."""
        try:
            relative = Path(path).resolve().relative_to(self.folder.resolve())
        except ValueError:
            return False
        listed = set(self.paths)
        return any(str(p) in listed for p in [relative, *relative.parents] if str(p) != ".")

    def check_free(self, names: Sequence[str], knob: str) -> None:
        """Raise when one of ``names`` exists in the folder but is not the pipeline's own."""
        for name in names:
            path = self.folder / name
            if (path.exists() or path.is_symlink()) and not self.owns(path):
                raise FolderConflictError(
                    f"{path} exists but SpikeLab did not create it (it is not listed in "
                    f"{self.folder / MANIFEST_NAME}); SpikeLab would overwrite or delete it. Move it "
                    f"elsewhere, or pass another folder in {knob}."
                )

    def claim(self, path: str | Path, knob: str = "intermediate_folders") -> Path:
        """Record ``path`` (inside the folder) as the pipeline's own; returns it.

        Raises
        ------
        FolderConflictError
            When ``path`` already exists and is not listed (it belongs to the user).
        """
        path = Path(path)
        self.check_free([str(path.resolve().relative_to(self.folder.resolve()))], knob)
        return self.add(path)

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


def _legacy_results(folder: Path) -> bool:
    """Whether ``folder`` holds a ``recording_report.json`` written by SpikeLab (before manifests)."""
    try:
        return json.loads((folder / "recording_report.json").read_text()).get("schema") == "spikelab.recording_report"
    except (OSError, ValueError, AttributeError):
        return False
