"""Built-in reader plugins: SpikeInterface objects, Maxwell files, and every format SpikeInterface reads.

These hooks are ``trylast``: a third-party reader plugin that recognises a format claims it first
(``spikelab_read_recording`` is first-result). Unreadable paths raise
:class:`~spikelab.errors.InputError` naming the file and the fix.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from spikelab.errors import InputError
from spikelab.plugins import hookimpl
from spikelab.spike_sorting.io import maxwell

if TYPE_CHECKING:
    from spikeinterface.core import BaseRecording

    from spikelab.spike_sorting.config import RecordingConfig

#: File suffixes (lower case) mapped to SpikeInterface's reader names, for formats neo cannot guess.
_SUFFIX_READERS = {".nwb": "nwb", ".mda": "mda", ".zarr": "zarr"}


@hookimpl(trylast=True)
def spikelab_read_recording(source: Any, config: RecordingConfig) -> BaseRecording | None:
    """Pass a SpikeInterface recording through; open Maxwell files (with the legacy extra-rows
    fix) and anything else SpikeInterface reads. Runs after third-party readers."""
    from spikeinterface.core import BaseRecording

    if isinstance(source, BaseRecording):
        return source
    if not isinstance(source, (str, Path)):
        return None
    path = Path(source)
    if maxwell.is_maxwell_file(path) or (path.is_file() and path.name.lower().endswith(".raw.h5")):
        return maxwell.read_maxwell_recording(
            path, stream_id=config.stream_id, rec_name=config.rec_name, hdf5_plugin_path=config.hdf5_plugin_path
        )
    return read_with_spikeinterface(path, config)


@hookimpl(trylast=True)
def spikelab_list_streams(source: Path) -> list[str] | None:
    """Stream ids of a Maxwell file, or of any multi-stream format neo reads."""
    if maxwell.is_maxwell_file(source):
        return maxwell.list_maxwell_streams(source)
    if not Path(source).exists():
        return None
    try:
        import spikeinterface.extractors as se

        reader = _neo_reader_name(Path(source))
        if reader is None:
            return None
        names, ids = se.get_neo_streams(reader, source)
        return list(ids)
    except Exception:  # noqa: BLE001 - an unknown format is "not mine", not an error
        return None


def _neo_reader_name(path: Path) -> str | None:
    import spikeinterface.extractors as se

    try:
        from neo.rawio import get_rawio
    except ImportError:  # pragma: no cover
        return None
    rawio = get_rawio(str(path))
    if rawio is None:
        return None
    name = rawio.__name__.removesuffix("RawIO").lower()
    return name if name in se.recording_extractor_full_dict else None


def read_with_spikeinterface(path: Path, config: RecordingConfig) -> BaseRecording:
    """Open ``path`` with SpikeInterface: a saved SpikeInterface folder, NWB, or a neo format."""
    import spikeinterface.core as sc
    import spikeinterface.extractors as se

    if path.is_dir() and any((path / name).exists() for name in ("si_folder.json", "binary.json", "provenance.json")):
        recording = sc.load(path)
        if not isinstance(recording, sc.BaseRecording):
            raise InputError(f"{path} is a saved SpikeInterface {type(recording).__name__}, not a recording.")
        return recording
    reader = _SUFFIX_READERS.get(path.suffix.lower()) or _neo_reader_name(path)
    if reader is None:
        raise InputError(
            f"Cannot tell the format of {path}: it is not a Maxwell .raw.h5 file, a saved SpikeInterface "
            "folder, NWB, or a format neo recognises by its extension. Open it with SpikeInterface yourself "
            "and pass the recording object instead."
        )
    kwargs: dict[str, Any] = {}
    if config.stream_id is not None:
        kwargs["stream_id"] = config.stream_id
    try:
        return se.recording_extractor_full_dict[reader](path, **kwargs)
    except (OSError, ValueError, KeyError) as exc:
        raise InputError(f"SpikeInterface's {reader!r} reader cannot open {path}: {exc}") from exc
