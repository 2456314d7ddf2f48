"""Finding the recording a SpikeData was sorted from, for exports that carry traces.

The pipeline records two places in ``sd.metadata``: ``recording_folder`` (the prepared binary
recording in the intermediate folder, on the exact clock of the spike times) and ``source_file``
(the original input) together with ``recording_config`` (stream, gain and time window). The
original is reopened through the pipeline's own reader with that configuration, so a Maxwell
``.raw.h5`` or a folder of concatenated files gives the same samples the sorter saw.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from spikelab.errors import InputError

if TYPE_CHECKING:
    from spikeinterface.core import BaseRecording

    from spikelab.spikedata import SpikeData

_SI_FOLDER_MARKERS = ("si_folder.json", "binary.json", "provenance.json")


def resolve_recording(sd: SpikeData, recording: Any, *, purpose: str) -> BaseRecording:
    """The recording to export with ``sd``: the one given, else the one its metadata records.

    Parameters
    ----------
    sd : SpikeData
        Units whose spike times the recording must cover.
    recording : BaseRecording, str, Path or None
        A recording object, a path (a saved SpikeInterface folder is loaded as is; an original
        file or folder of files is opened with the pipeline's reader and the recorded
        ``recording_config``), or None to use ``metadata["recording_folder"]`` and then
        ``metadata["source_file"]``.
    purpose : str
        What the traces are for, named in the error message.

    Returns
    -------
    BaseRecording
        One segment (several segments are concatenated, as the pipeline sorts them).

    Raises
    ------
    InputError
        When no recording is given or recorded, a path does not exist, or the recording does not
        match the units (channel count, duration).
    """
    if recording is None:
        recording = _recorded(sd, purpose)
    elif isinstance(recording, (str, os.PathLike)):
        recording = open_path(Path(recording), sd)
    recording = _one_segment(recording)
    _check_matches(sd, recording)
    return recording


def open_path(path: Path, sd: SpikeData) -> BaseRecording:
    """Open ``path`` as the recording of ``sd`` (see :func:`resolve_recording`)."""
    path = path.expanduser()
    if not path.exists():
        raise InputError(
            f"Recording {path} does not exist; pass the file the units were sorted from "
            "(e.g. session.raw.h5) or the pipeline's <intermediate>/recording folder."
        )
    if path.is_dir() and any((path / marker).exists() for marker in _SI_FOLDER_MARKERS):
        import spikeinterface as si

        return si.load(path)
    from spikelab.spike_sorting.config import SortingPipelineConfig
    from spikelab.spike_sorting.io import open_recording

    options = sd.metadata.get("recording_config") or {}
    config = SortingPipelineConfig.from_dict({"recording": dict(options)}).recording
    return open_recording(path, config).recording


def _recorded(sd: SpikeData, purpose: str) -> BaseRecording:
    folder = sd.metadata.get("recording_folder")
    if folder and Path(folder).is_dir():
        import spikeinterface as si

        return si.load(folder)
    source = sd.metadata.get("source_file")
    if source and Path(source).exists():
        return open_path(Path(source), sd)
    recorded = [str(p) for p in (folder, source) if p]
    where = f" (recorded: {', '.join(recorded)}, no longer there)" if recorded else ""
    raise InputError(
        f"{purpose} needs the recording the units came from{where}: pass recording=... "
        "(CLI: --recording session.raw.h5, the original file)."
    )


def _one_segment(recording: BaseRecording) -> BaseRecording:
    if recording.get_num_segments() == 1:
        return recording
    from spikeinterface.core import concatenate_recordings

    return concatenate_recordings([recording])


def _check_matches(sd: SpikeData, recording: BaseRecording) -> None:
    locations = sd.metadata.get("channel_locations")
    channels = recording.get_num_channels()
    if locations is not None and len(locations) != channels:
        raise InputError(
            f"The recording has {channels} channels but the units were sorted on {len(locations)}; "
            "pass the recording they were sorted from."
        )
    fs = float(recording.get_sampling_frequency())
    if sd.fs_Hz and abs(fs - sd.fs_Hz) > 1e-6 * sd.fs_Hz:
        raise InputError(
            f"The recording is sampled at {fs} Hz but the units at {sd.fs_Hz} Hz; pass the recording they came from."
        )
    duration_ms = recording.get_num_samples() / fs * 1000.0
    last = max((float(t[-1]) for t in sd.train if len(t)), default=0.0) - sd.start_time
    if last > duration_ms + 1000.0 / fs:
        raise InputError(
            f"The recording is {duration_ms / 1000:.3f} s long but a spike lies at {last / 1000:.3f} s; "
            "pass the recording the units were sorted from (with the same time window)."
        )
