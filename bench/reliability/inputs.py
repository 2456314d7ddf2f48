"""Input builders of the fault and bad-input catalogue: each writes one case's input into its work folder.

Every builder is ``builder(work, base, **args) -> Prepared``: ``work`` is the case's own folder
(``data/`` holds the user's files, ``inter/`` and ``results/`` the pipeline's), ``base`` the
clean Maxwell file every case starts from. ``Prepared.user_paths`` are the user's files whose
names, sizes and hashes must not change.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import attrs
import h5py
import numpy as np

from spikelab.testing import maxwell as mxw

RAW = "wells/well000/rec0000/groups/routed/raw"
NEW_MAPPING = "wells/well000/rec0000/settings/mapping"


@attrs.define
class Prepared:
    """What a case sorts and which of its files belong to the user."""

    sources: Any
    user_paths: list[Path]
    folders: dict[str, Any] = attrs.field(factory=dict)


def _base_copy(work: Path, base: Path, name: str = "small.raw.h5") -> Path:
    data = work / "data"
    data.mkdir(parents=True, exist_ok=True)
    target = data / name
    shutil.copyfile(base, target)
    return target


def _default(work: Path, path: Path) -> Prepared:
    return Prepared(
        [path], [work / "data"], {"intermediate_folders": [work / "inter"], "results_folders": [work / "results"]}
    )


def clean(work: Path, base: Path) -> Prepared:
    return _default(work, _base_copy(work, base))


def missing(work: Path, base: Path) -> Prepared:
    (work / "data").mkdir(parents=True)
    return _default(work, work / "data" / "nope.raw.h5")


def empty(work: Path, base: Path) -> Prepared:
    path = work / "data" / "empty.raw.h5"
    path.parent.mkdir(parents=True)
    path.touch()
    return _default(work, path)


def truncated(work: Path, base: Path, fraction: float = 0.33) -> Prepared:
    path = _base_copy(work, base)
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * fraction)])
    return _default(work, path)


def overwritten(work: Path, base: Path, n_bytes: int = 200_000, at: float = 0.5) -> Prepared:
    path = _base_copy(work, base)
    with open(path, "r+b") as f:
        f.seek(int(path.stat().st_size * at))
        f.write(np.random.default_rng(1).bytes(n_bytes))
    return _default(work, path)


def text_as_h5(work: Path, base: Path) -> Prepared:
    path = work / "data" / "notes.raw.h5"
    path.parent.mkdir(parents=True)
    path.write_text("this is not a recording\n")
    return _default(work, path)


def unknown_format(work: Path, base: Path) -> Prepared:
    path = work / "data" / "session.xyz"
    path.parent.mkdir(parents=True)
    path.write_bytes(b"\x00" * 4096)
    return _default(work, path)


def _edit(path: Path, edit) -> None:
    with h5py.File(path, "r+") as f:
        edit(f)


def _replace(f, name: str, value) -> None:
    del f[name]
    f[name] = value


def legacy_edit(work: Path, base: Path, what: str) -> Prepared:
    """The clean legacy file with one part broken (``what`` names it)."""
    path = _base_copy(work, base)

    def edit(f):
        sig = np.asarray(f["sig"])
        if what == "no_sig":
            del f["sig"]
        elif what == "bad_version":
            _replace(f, "version", np.array([b"v2-beta"]))
        elif what == "no_mapping":
            del f["mapping"]
        elif what == "no_channels":
            mapping = np.asarray(f["mapping"])
            mapping["channel"] = -1
            _replace(f, "mapping", mapping)
        elif what == "zero_length":
            _replace(f, "sig", np.zeros((sig.shape[0], 0), dtype=np.uint16))
        elif what in ("float32", "int16"):
            _replace(f, "sig", (sig.astype(np.float64) - 512).astype(what))
        elif what == "mapping_beyond_rows":
            mapping = np.asarray(f["mapping"])
            mapping["channel"][-1] = sig.shape[0] + 40
            _replace(f, "mapping", mapping)
        elif what == "extra_rows":
            extra = np.zeros((4, sig.shape[1]), dtype=np.uint16)
            extra[-2:] = np.arange(sig.shape[1], dtype=np.uint16)
            _replace(f, "sig", np.concatenate([sig, extra]))
        else:  # pragma: no cover - a typo in cases.toml
            raise ValueError(what)

    _edit(path, edit)
    return _default(work, path)


def new_layout(work: Path, base: Path, what: str = "ok", wells: int = 1) -> Prepared:
    """A new-layout file holding the clean file's traces (``what`` breaks one part)."""
    with h5py.File(base, "r") as f:
        sig, mapping = np.asarray(f["sig"]), np.asarray(f["mapping"])
    names = tuple(f"well{k:03d}" for k in range(wells))
    path = work / "data" / "new.raw.h5"
    compression = "gzip" if what == "gzip_damaged" else None
    mxw.write_new(path, wells=names, num_channels=sig.shape[0], num_samples=sig.shape[1],
                  traces={(w, "rec0000"): sig for w in names}, compression=compression)

    def edit(f):
        for well in names:
            f[f"wells/{well}/rec0000/settings/mapping"][...] = mapping
        if what == "int16":
            _replace(f, RAW, (sig.astype(np.int32) - 512).astype(np.int16))
        elif what == "mapping_12_over_8":
            _replace(f, NEW_MAPPING, mxw.maxwell_mapping(sig.shape[0] + 4))
        elif what == "no_mapping":
            del f[NEW_MAPPING]

    _edit(path, edit)
    if what == "gzip_damaged":
        with open(path, "r+b") as handle:
            handle.seek(path.stat().st_size // 2)
            handle.write(np.random.default_rng(1).bytes(20_000))
    return _default(work, path)


def folder_of(work: Path, base: Path, what: str) -> Prepared:
    folder = work / "data" / "day1"
    folder.mkdir(parents=True)
    if what == "mixed_channels":
        shutil.copyfile(base, folder / "a.raw.h5")
        mxw.write_legacy(folder / "b.raw.h5", num_channels=4, num_samples=20000)
    return _default(work, folder)


def recording_object(work: Path, base: Path, what: str) -> Prepared:
    """An in-memory recording: the clean file's traces with NaN/inf, or named to escape."""
    from spikeinterface.core import NumpyRecording

    from spikelab.spike_sorting.io import open_recording

    (work / "data").mkdir(parents=True)
    source = open_recording(base).recording
    traces = source.get_traces(return_in_uV=True).astype(np.float32)
    if what == "nan":
        traces[1000:1010, 2] = np.nan
    elif what == "inf":
        traces[5000, 0] = np.inf
    recording = NumpyRecording([traces], sampling_frequency=source.get_sampling_frequency())
    recording.set_probe(source.get_probe(), in_place=True)
    if what == "escape":
        recording.annotate(name="../../escape")
        return Prepared([recording], [work / "data"], {})
    return Prepared([recording], [work / "data"], {"intermediate_folders": [work / "inter"],
                                                  "results_folders": [work / "results"]})


def user_folder_in_intermediate(work: Path, base: Path, managed: str = "recording") -> Prepared:
    """Finding 17.1: the user's files in a folder the pipeline manages inside the intermediate folder."""
    folder = work / "exp" / managed
    folder.mkdir(parents=True)
    path = folder / "part0.raw.h5"
    shutil.copyfile(base, path)
    (folder / "notes.txt").write_text("day 1: slice 3, 34 C\n")
    return Prepared(
        [path], [work / "exp"], {"intermediate_folders": [work / "exp"], "results_folders": [work / "results"]}
    )


def two_recordings(work: Path, base: Path, results: str = "same") -> Prepared:
    """Finding 17.2: two recordings whose results folders collide (or equal an input)."""
    a = _base_copy(work, base, "a.raw.h5")
    b = _base_copy(work, base, "b.raw.h5")
    inter = [work / "inter_a", work / "inter_b"]
    if results == "same":
        out = [work / "results", work / "results"]
    elif results == "nested":
        out = [work / "results", work / "results" / "b"]
    else:  # "input": the results folder is the folder holding the inputs
        out = [work / "data", work / "results_b"]
    return Prepared([a, b], [work / "data"], {"intermediate_folders": inter, "results_folders": out})


def literal(work: Path, base: Path, sources: Any = None) -> Prepared:
    """``recording_files`` exactly as written in the case (e.g. ``[1, 2]``)."""
    (work / "data").mkdir(parents=True)
    return Prepared(sources, [work / "data"], {})


BUILDERS = {f.__name__: f for f in (
    clean, literal, missing, empty, truncated, overwritten, text_as_h5, unknown_format, legacy_edit, new_layout,
    folder_of, recording_object, user_folder_in_intermediate, two_recordings,
)}
