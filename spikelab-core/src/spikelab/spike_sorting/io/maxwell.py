"""Maxwell Biosystems ``.raw.h5`` files: layouts, streams, compression filters, and a reader.

Layouts (see :mod:`spikelab.testing.maxwell` for writers of each):

- **legacy** (MaxOne, ``version`` 20160704): ``/mapping`` + ``/sig`` (rows x samples), one
  stream ``well000``. Real files carry non-signal rows after the channels (frame numbers in
  the last two), so ``/sig`` can have more rows than mapped channels; only mapped rows are read
  (neo 0.14 reads every row and breaks channel selection).
- **new** (MaxOne >= 2019, MaxTwo): ``/wells/<well>/<rec>/{settings,groups/routed/raw}``, one
  stream per well; when wells hold several recordings ``rec_name`` picks one.

Both are read by :class:`~spikelab.spike_sorting.io._maxwell_recording.MaxwellRecording`,
which refuses a signal that is not uint16, a mapping that does not match the signal rows, and
damaged values (see there for what can and cannot be detected). Nothing is ever downloaded.

Before traces are read, the compression filters of the signal dataset are checked; a missing
one raises :class:`~spikelab.spike_sorting._exceptions.HDF5PluginMissingError` saying how to
install it, instead of HDF5's "can't open directory" error.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import structlog

from spikelab.errors import InputError
from spikelab.spike_sorting._exceptions import HDF5PluginMissingError

if TYPE_CHECKING:
    from spikeinterface.core import BaseRecording

log = structlog.get_logger("spikelab.io")

LEGACY_VERSION = "20160704"
LEGACY_SAMPLING_HZ = 20000.0
MAXWELL_PLUGIN_URL = "https://share.mxwbio.com/d/4742248b2e674a85be97/"


def is_maxwell_file(path: str | Path) -> bool:
    """True when ``path`` is an HDF5 file with Maxwell's ``version`` and ``sig`` or ``wells``."""
    path = Path(path)
    if not path.is_file() or not path.name.endswith(".h5"):
        return False
    import h5py

    try:
        with h5py.File(path, "r") as f:
            return "version" in f and ("sig" in f or "wells" in f)
    except OSError:
        return False


def _open(path: Path) -> Any:
    import h5py

    if path.is_file() and path.stat().st_size == 0:
        raise InputError(f"{path} is an empty file (0 bytes): the copy or the recording failed. Copy it again.")
    try:
        return h5py.File(path, "r")
    except OSError as exc:
        raise InputError(
            f"Cannot open {path} as an HDF5 file ({exc}). The file is missing, truncated or not a "
            "Maxwell .raw.h5 recording; copy it again or pass the right path."
        ) from exc


def _version(f: Any, path: Path) -> str:
    if "version" not in f:
        raise InputError(f"{path} has no '/version' dataset: not a Maxwell .raw.h5 recording, or a damaged one.")
    value = f["version"][0]
    text = value.decode() if isinstance(value, bytes) else str(value)
    if not text.strip().isdigit():
        raise InputError(f"{path}: unknown Maxwell file version {text!r}; expected a date such as 20190530.")
    return text.strip()


def _well_recordings(f: Any) -> dict[str, list[str]]:
    """``{well: [rec names with routed traces]}`` for the new layout (wells without traces dropped)."""
    out: dict[str, list[str]] = {}
    for well in sorted(f["wells"]):
        recs = [rec for rec in sorted(f["wells"][well]) if "groups/routed/raw" in f["wells"][well][rec]]
        if recs:
            out[well] = recs
        else:
            log.warning("maxwell_well_without_traces", well=well)
    return out


def list_maxwell_streams(path: str | Path) -> list[str]:
    """Stream ids (wells) of a Maxwell file: ``["well000"]`` for legacy files."""
    path = Path(path)
    with _open(path) as f:
        if "sig" in f:
            return ["well000"]
        return list(_well_recordings(f))


def signal_dataset_path(path: Path, stream_id: str | None, rec_name: str | None) -> tuple[str, str, str | None]:
    """Resolve ``(dataset path, stream_id, rec_name)`` of the traces, validating the choice.

    Raises
    ------
    InputError
        When the file has several streams or rec names and none (or an unknown one) was chosen.
    """
    with _open(path) as f:
        _version(f, path)
        if "sig" in f:
            if stream_id not in (None, "well000"):
                raise InputError(
                    f"{path} is a legacy single-well Maxwell file: its only stream is 'well000', not {stream_id!r}."
                )
            return "sig", "well000", None
        if "wells" not in f:
            raise InputError(f"{path} has neither '/sig' nor '/wells': not a Maxwell recording layout SpikeLab knows.")
        wells = _well_recordings(f)
    if not wells:
        raise InputError(f"{path} has no well with recorded traces (no wells/*/*/groups/routed/raw).")
    if stream_id is None:
        if len(wells) > 1:
            raise InputError(
                f"{path} holds {len(wells)} streams {list(wells)}: pass stream_id (e.g. "
                f"stream_id={next(iter(wells))!r}) or use sort_multistream."
            )
        stream_id = next(iter(wells))
    if stream_id not in wells:
        raise InputError(f"{path} has no stream {stream_id!r}; its streams are {list(wells)}.")
    all_recs = sorted({r for recs in wells.values() for r in recs})
    if rec_name is None:
        if len(all_recs) > 1:
            raise InputError(
                f"{path} holds several recordings {all_recs} across its wells: pass rec_name "
                f"(e.g. rec_name={wells[stream_id][0]!r})."
            )
        rec_name = wells[stream_id][0]
    if rec_name not in wells[stream_id]:
        raise InputError(f"{path}: stream {stream_id!r} has no recording {rec_name!r}; it has {wells[stream_id]}.")
    return f"wells/{stream_id}/{rec_name}/groups/routed/raw", stream_id, rec_name


# -- HDF5 compression filters ------------------------------------------------------------------
def configure_hdf5_plugins(hdf5_plugin_path: str | None = None) -> None:
    """Make compression filters findable in this process and in child processes.

    ``hdf5_plugin_path`` (``RecordingConfig.hdf5_plugin_path``) is put first on HDF5's search
    path and on ``HDF5_PLUGIN_PATH``; the standard filters of ``hdf5plugin`` (Zstd, Blosc,
    LZ4, ...) are registered and their folder appended, so workers that rebuild a recording
    find them too. Nothing is downloaded.
    """
    import h5py.h5pl

    folders = [p for p in os.environ.get("HDF5_PLUGIN_PATH", "").split(os.pathsep) if p]
    if hdf5_plugin_path:
        folder = str(Path(hdf5_plugin_path).expanduser())
        if not Path(folder).is_dir():
            raise HDF5PluginMissingError(
                f"hdf5_plugin_path {folder!r} is not a folder. Put the HDF5 filter library there "
                "(libcompression.so for Maxwell files) or fix the path.",
                configured_path=folder,
            )
        if folder not in folders:
            folders.insert(0, folder)
            h5py.h5pl.prepend(folder.encode())
    try:
        import hdf5plugin
    except ImportError:  # pragma: no cover - a declared dependency
        hdf5plugin = None
    if hdf5plugin is not None and hdf5plugin.PLUGIN_PATH not in folders:
        folders.append(hdf5plugin.PLUGIN_PATH)
    if folders:
        os.environ["HDF5_PLUGIN_PATH"] = os.pathsep.join(folders)


def dataset_filters(path: Path, dataset: str) -> list[tuple[int, str]]:
    """``(filter id, name)`` of every filter of ``dataset``."""
    with _open(path) as f:
        plist = f[dataset].id.get_create_plist()
        filters = []
        for index in range(plist.get_nfilters()):
            code, _flags, _values, name = plist.get_filter(index)
            filters.append((int(code), name.decode(errors="replace") if isinstance(name, bytes) else str(name)))
        return filters


def check_filters(path: Path, dataset: str, hdf5_plugin_path: str | None = None) -> None:
    """Raise :class:`HDF5PluginMissingError` when a filter of ``dataset`` cannot be loaded."""
    import h5py.h5z

    for code, name in dataset_filters(path, dataset):
        if not h5py.h5z.filter_avail(code):
            raise HDF5PluginMissingError(
                missing_filter_message(path, code, name, hdf5_plugin_path),
                configured_path=hdf5_plugin_path or os.environ.get("HDF5_PLUGIN_PATH"),
                file_path=str(path),
            )


def missing_filter_message(path: Path, code: int, name: str, configured: str | None) -> str:
    """The install instructions given when a file's compression filter is missing."""
    current = os.environ.get("HDF5_PLUGIN_PATH") or "(unset)"
    return (
        f"Cannot read the traces of {path}: they are compressed with HDF5 filter {code} "
        f"({name or 'unnamed'}), which is not installed. SpikeLab never downloads it. To fix:\n"
        "  1. Maxwell recordings from MaxLab Live use Maxwell's own filter: get its library "
        f"(libcompression.so on Linux, libcompression.dylib on macOS, compression.dll on Windows) from "
        f"Maxwell Biosystems ({MAXWELL_PLUGIN_URL}) or your MaxLab Live installation and put it in a "
        "folder, e.g. ~/hdf5_plugins.\n"
        "  2. Point SpikeLab at that folder: RecordingConfig(hdf5_plugin_path='~/hdf5_plugins') "
        "(CLI: --set hdf5_plugin_path=~/hdf5_plugins), or `export HDF5_PLUGIN_PATH=~/hdf5_plugins` "
        "before starting Python (inside Docker, mount the folder and set the variable there too).\n"
        "  3. Files recompressed with a standard filter (Zstd, Blosc, LZ4, Bitshuffle, ...) need "
        "`pip install hdf5plugin` instead.\n"
        f"Configured hdf5_plugin_path: {configured or '(none)'}; HDF5_PLUGIN_PATH: {current}."
    )


# -- reading -------------------------------------------------------------------------------------
def read_maxwell_recording(
    path: str | Path,
    *,
    stream_id: str | None = None,
    rec_name: str | None = None,
    hdf5_plugin_path: str | None = None,
) -> BaseRecording:
    """Open a Maxwell file as a SpikeInterface recording (uint16, gains to µV, channel locations).

    Parameters
    ----------
    path : str or Path
        The ``.raw.h5`` file.
    stream_id : str, optional
        Well to read (``"well000"``...); required when the file has several.
    rec_name : str, optional
        Recording name inside the well; required when wells hold several.
    hdf5_plugin_path : str, optional
        Folder with HDF5 filter libraries (see :func:`configure_hdf5_plugins`).

    Returns
    -------
    BaseRecording
        Channel ids ``str(channel)``, property ``electrode``, gains from ``settings/lsb``.

    Raises
    ------
    InputError
        Empty, malformed or damaged file (wrong sample type, mapping not matching the signal
        rows, codes above the ADC's range in the blocks read at open, undecodable chunks), or an
        ambiguous/unknown stream or rec name; the message names the file.
    HDF5PluginMissingError
        The traces use a compression filter that is not installed.
    """
    path = Path(path)
    configure_hdf5_plugins(hdf5_plugin_path)
    dataset, stream_id, rec_name = signal_dataset_path(path, stream_id, rec_name)
    check_filters(path, dataset, hdf5_plugin_path)
    from spikelab.spike_sorting.io._maxwell_recording import MaxwellRecording, scan_values

    recording = MaxwellRecording(path, dataset)
    scan_values(recording)
    log.debug("maxwell_opened", path=str(path), stream_id=stream_id, rec_name=rec_name,
              channels=recording.get_num_channels(), samples=recording.get_num_samples())
    return recording


def gain_uv(settings: Any) -> float:
    """µV per ADC step from a Maxwell ``settings`` group (``lsb`` in V, else ``gain``, else 512)."""
    if "lsb" in settings:
        return float(np.asarray(settings["lsb"])[0]) * 1e6
    gain = float(np.asarray(settings["gain"])[0]) if "gain" in settings else 512.0
    return 3.3 / (1024 * gain) * 1e6
