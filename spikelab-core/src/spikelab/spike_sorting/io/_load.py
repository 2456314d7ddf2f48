"""``open_recording``: a path, a folder of files or a recording object to one :class:`LoadedRecording`."""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

import attrs
import numpy as np
import structlog

from spikelab.errors import InputError
from spikelab.plugins import plugin_manager_in_use

if TYPE_CHECKING:
    from spikeinterface.core import BaseRecording

    from spikelab.plugins import SpikeLabPluginManager
    from spikelab.spike_sorting.config import RecordingConfig

log = structlog.get_logger("spikelab.io")

#: Suffixes of the files a folder is concatenated from (one kind per folder).
CONCATENATED_SUFFIXES = (".h5", ".nwb")
_KNOWN_SUFFIXES = (".raw.h5", ".h5", ".nwb")
_SI_FOLDER_MARKERS = ("si_folder.json", "binary.json", "provenance.json")


@attrs.frozen
class LoadedRecording:
    """A recording ready for the pipeline, with the files it was concatenated from.

    Parameters
    ----------
    recording : BaseRecording
        Single-segment SpikeInterface recording with channel locations, windowed as configured.
    name : str
        Short name: ``"session1"`` for ``session1.raw.h5``, a folder's name for a concatenated
        folder; ``"_<stream_id>"`` is appended for a stream of multi-stream files
        (:func:`stream_name`).
    source : str or None
        Path it came from; None for a recording object.
    chunk_names : tuple of str
        One name per concatenated file (``(name,)`` for a single file).
    chunk_samples : tuple of int
        Samples of each file inside ``recording`` (after windowing); they sum to its length.
    """

    recording: Any
    name: str
    source: str | None
    chunk_names: tuple[str, ...]
    chunk_samples: tuple[int, ...]

    @property
    def rec_chunks_ms(self) -> list[tuple[float, float]]:
        """``(start_ms, end_ms)`` of every file, for ``SpikeData.metadata["rec_chunks_ms"]``."""
        fs = float(self.recording.get_sampling_frequency())
        out, start = [], 0
        for n in self.chunk_samples:
            out.append((start * 1000.0 / fs, (start + n) * 1000.0 / fs))
            start += n
        return out


def short_name(path: str | Path) -> str:
    """``session1`` for ``session1.raw.h5``; the stem for other files; the name of a folder."""
    name = Path(path).name
    for suffix in _KNOWN_SUFFIXES:
        if name.lower().endswith(suffix):
            return name[: -len(suffix)]
    return Path(name).stem if Path(path).suffix else name


def natural_key(path: Path) -> list[Any]:
    """Sort key that puts ``rec2`` before ``rec10``."""
    return [int(part) if part.isdigit() else part.lower() for part in re.split(r"(\d+)", path.name)]


def folder_files(folder: Path) -> list[Path]:
    """The recording files of ``folder`` in natural order (all ``.h5`` or all ``.nwb``)."""
    files = [p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in CONCATENATED_SUFFIXES]
    if not files:
        raise InputError(
            f"Folder {folder} holds no recording files ({', '.join(CONCATENATED_SUFFIXES)}); pass a folder "
            "of Maxwell .raw.h5 or NWB files, or the files themselves."
        )
    kinds = {p.suffix.lower() for p in files}
    if len(kinds) > 1:
        raise InputError(f"Folder {folder} mixes {sorted(kinds)} files; keep one format per folder to concatenate.")
    return sorted(files, key=natural_key)


def open_recording(
    source: Any, config: RecordingConfig | None = None, *, plugins: SpikeLabPluginManager | None = None
) -> LoadedRecording:
    """Open ``source`` for sorting through the reader plugins.

    Parameters
    ----------
    source : str, Path or BaseRecording
        A file, a folder of files (concatenated in natural order, each file one chunk), a saved
        SpikeInterface folder, or a SpikeInterface recording object.
    config : RecordingConfig, optional
        ``stream_id``, ``rec_name``, ``hdf5_plugin_path``, gain/offset overrides and the time
        window (``start_time_s``, ``end_time_s``, ``first_n_mins``: the first N minutes from
        ``start_time_s``).
    plugins : SpikeLabPluginManager, optional
        The reader plugins to open it with; default: the manager in use.

    Returns
    -------
    LoadedRecording

    Raises
    ------
    InputError
        Missing, empty, malformed or mismatched input, named with the fix.
    HDF5PluginMissingError
        A Maxwell file's compression filter is not installed.
    """
    from spikeinterface.core import BaseRecording

    from spikelab.spike_sorting.config import RecordingConfig

    config = config or RecordingConfig()
    pm = plugin_manager_in_use(plugins)
    if isinstance(source, BaseRecording):
        recording = _read_one(pm, source, config)
        name = str(source.get_annotation("name") or "recording")
        names, samples, origin = (name,), (recording.get_num_samples(),), None
    else:
        path = Path(source).expanduser()
        if not path.exists():
            raise InputError(f"Recording {path} does not exist; check the path.")
        origin = str(path)
        if path.is_dir() and not any((path / m).exists() for m in _SI_FOLDER_MARKERS):
            files = folder_files(path)
            parts = [_read_one(pm, f, config) for f in files]
            recording = _concatenate(parts, files)
            name, names = _stream_name(pm, path, config, probe=files[0]), tuple(short_name(f) for f in files)
            samples = tuple(p.get_num_samples() for p in parts)
        else:
            recording = _read_one(pm, path, config)
            name = _stream_name(pm, path, config)
            names, samples = (name,), (recording.get_num_samples(),)
    recording = _apply_gain(recording, config)
    recording, samples, names = _window(recording, samples, names, config, origin or name)
    log.info("recording_opened", name=name, source=origin, channels=recording.get_num_channels(),
             samples=recording.get_num_samples(), fs=recording.get_sampling_frequency(), files=len(names))
    return LoadedRecording(recording=recording, name=name, source=origin, chunk_names=names, chunk_samples=samples)


def list_streams(path: str | Path, *, plugins: SpikeLabPluginManager | None = None) -> list[str]:
    """Stream ids of a multi-stream file (``["well000", "well001"]`` for a two-well MaxTwo file).

    ``plugins`` holds the readers asked (default: the manager in use).

    Raises
    ------
    InputError
        When the path is missing or no reader plugin knows its streams.
    """
    path = Path(path).expanduser()
    if not path.exists():
        raise InputError(f"Recording {path} does not exist; check the path.")
    streams = plugin_manager_in_use(plugins).list_streams(path)
    if streams is None:
        raise InputError(f"No reader knows the streams of {path}; pass a Maxwell .raw.h5 or a neo-readable file.")
    return list(streams)


def _read_one(pm: Any, source: Any, config: RecordingConfig) -> BaseRecording:
    if isinstance(source, Path) and source.is_file() and source.stat().st_size == 0:
        raise InputError(f"{source} is an empty file (0 bytes): the copy or the recording failed. Copy it again.")
    recording = pm.read_recording(source, config)
    if recording is None:
        raise InputError(f"No reader plugin can open {source!r}; pass a Maxwell .raw.h5, a SpikeInterface-readable "
                         "file, or a SpikeInterface recording object.")
    if recording.get_num_segments() != 1:
        raise InputError(f"{source!r} has {recording.get_num_segments()} segments; SpikeLab sorts single-segment "
                         "recordings. Select one with recording.select_segments([i]).")
    if recording.get_num_channels() == 0 or recording.get_num_samples() == 0:
        raise InputError(f"{source!r} is empty ({recording.get_num_channels()} channels, "
                         f"{recording.get_num_samples()} samples); pass a recording with data.")
    if recording.get_channel_locations() is None:  # pragma: no cover - SI raises before
        raise InputError(f"{source!r} has no channel locations; attach a probe (recording.set_probe).")
    check_finite(recording, source)
    if np.dtype(recording.get_dtype()).kind == "f":
        from spikelab.spike_sorting.io._finite import FiniteCheckedRecording

        recording = FiniteCheckedRecording(recording, label=_label(source))
    return recording


def _label(source: Any) -> str:
    return str(source) if isinstance(source, (str, Path)) else "The recording object"


def check_finite(recording: BaseRecording, source: Any) -> None:
    """Refuse a float recording with NaN or inf in the windows of :func:`scan_windows`.

    Integer recordings cannot hold them. A recording up to ``SCAN_BUDGET_VALUES`` values is
    checked whole; a larger one is sampled, and a NaN between the blocks is caught later, when
    the pipeline reads it (:class:`FiniteCheckedRecording`).

    Raises
    ------
    InputError
        Naming the source, the channel and the sample of the first non-finite value.
    """
    from spikelab.spike_sorting.io._finite import scan_windows

    if np.dtype(recording.get_dtype()).kind != "f":
        return
    for start, end in scan_windows(recording.get_num_samples(), recording.get_num_channels()):
        traces = recording.get_traces(start_frame=start, end_frame=end)
        bad = ~np.isfinite(traces)
        if bad.any():
            sample, channel = (int(i) for i in np.argwhere(bad)[0])
            value = traces[sample, channel]
            raise InputError(
                f"{_label(source)} holds {value} (NaN or inf) at sample {int(start) + sample}, channel "
                f"'{recording.get_channel_ids()[channel]}'; a sorter cannot use it. Replace or remove those "
                "samples (e.g. spikeinterface.preprocessing.remove_artifacts) before sorting."
            )


def stream_name(source: str | Path, stream_id: str | None, streams: list[str] | tuple[str, ...]) -> str:
    """The name of one stream of ``source`` (a file, or a folder of files concatenated per stream).

    ``session1_well002`` for stream ``well002`` of ``session1.raw.h5`` (``day1_well002`` for a
    folder ``day1``), so each well of a MaxTwo file gets its own default folders; the bare name
    when the file holds one stream or none is chosen.
    """
    path = Path(source)
    concatenated = path.is_dir() and not any((path / m).exists() for m in _SI_FOLDER_MARKERS)
    name = path.name if concatenated else short_name(path)
    return f"{name}_{stream_id}" if stream_id is not None and len(streams) > 1 else name


def _stream_name(pm: Any, source: Path, config: RecordingConfig, probe: Path | None = None) -> str:
    """:func:`stream_name` of ``source``, its streams listed from ``probe`` (a folder's first file)."""
    streams = (pm.list_streams(probe or source) or []) if config.stream_id is not None else []
    return stream_name(source, config.stream_id, streams)


def _concatenate(parts: list[BaseRecording], files: list[Path]) -> BaseRecording:
    from spikeinterface.core import concatenate_recordings

    first = parts[0]
    for part, path in zip(parts[1:], files[1:]):
        if part.get_sampling_frequency() != first.get_sampling_frequency():
            raise InputError(f"{path} is sampled at {part.get_sampling_frequency()} Hz but {files[0]} at "
                             f"{first.get_sampling_frequency()} Hz; concatenate only recordings of one rate.")
        if part.get_num_channels() != first.get_num_channels():
            raise InputError(f"{path} has {part.get_num_channels()} channels but {files[0]} has "
                             f"{first.get_num_channels()}; concatenate only recordings of one channel map.")
        if part.get_dtype() != first.get_dtype():
            raise InputError(f"{path} stores {part.get_dtype()} but {files[0]} stores {first.get_dtype()}.")
    aligned = [first]
    for part, path in zip(parts[1:], files[1:]):
        if not np.allclose(part.get_channel_locations(), first.get_channel_locations()):
            log.warning("concatenation_locations_differ", file=str(path), reference=str(files[0]),
                        hint="the files were recorded with different electrode maps; units may not match across them")
        if list(part.get_channel_ids()) != list(first.get_channel_ids()):
            log.warning("concatenation_channel_ids_differ", file=str(path), reference=str(files[0]))
            part = part.rename_channels(first.get_channel_ids())
        aligned.append(part)
    return concatenate_recordings(aligned)


def _apply_gain(recording: BaseRecording, config: RecordingConfig) -> BaseRecording:
    if config.gain_to_uv is None and config.offset_to_uv is None:
        if not recording.has_scaleable_traces():
            log.warning("recording_without_gain", hint="set gain_to_uv; traces are taken as µV")
        return recording
    recording = recording.frame_slice(0, recording.get_num_samples())  # a view: the caller's object is untouched
    if config.gain_to_uv is not None:
        recording.set_channel_gains(config.gain_to_uv)
    if config.offset_to_uv is not None or not recording.has_scaleable_traces():
        recording.set_channel_offsets(config.offset_to_uv or 0.0)
    return recording


def _window(
    recording: BaseRecording, samples: tuple[int, ...], names: tuple[str, ...], config: RecordingConfig, label: str
) -> tuple[BaseRecording, tuple[int, ...], tuple[str, ...]]:
    """Cut to [start_time_s, end_time_s] and the first N minutes from the start; crop the chunks."""
    fs = recording.get_sampling_frequency()
    total = recording.get_num_samples()
    start = int(round((config.start_time_s or 0.0) * fs))
    end = total
    if config.end_time_s is not None:
        end = min(end, int(round(config.end_time_s * fs)))
        if config.end_time_s * fs > total + 1:
            log.warning("window_end_clamped", recording=label, end_time_s=config.end_time_s, duration_s=total / fs)
    if config.first_n_mins is not None:
        end = min(end, start + int(round(config.first_n_mins * 60.0 * fs)))
    if start >= total:
        raise InputError(f"start_time_s={config.start_time_s} is past the end of {label} ({total / fs:.3f} s long).")
    if (start, end) == (0, total):
        return recording, samples, names
    bounds = [0]
    for n in samples:
        bounds.append(bounds[-1] + n)
    kept_samples, kept_names = [], []
    for name, lo, hi in zip(names, bounds[:-1], bounds[1:]):
        n = min(hi, end) - max(lo, start)
        if n > 0:
            kept_samples.append(n)
            kept_names.append(name)
    log.info("recording_windowed", recording=label, start_s=start / fs, end_s=end / fs)
    return recording.frame_slice(start, end), tuple(kept_samples), tuple(kept_names)
