"""Stage ``load``: open every input (lazily) before any long work, so bad files fail first."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from spikelab.errors import InputError
from spikelab.spike_sorting.stages import stage

if TYPE_CHECKING:
    from spikelab.spike_sorting.config import SortingPipelineConfig
    from spikelab.spike_sorting.io import LoadedRecording


def as_sources(recording_files: Any) -> list[Any]:
    """The guide's ``recording_files``: a list of paths/recordings, or a single one."""
    if isinstance(recording_files, (str, os.PathLike)) or hasattr(recording_files, "get_traces"):
        return [recording_files]
    try:
        sources = list(recording_files)
    except TypeError:
        raise InputError(
            f"recording_files must be a path, a SpikeInterface recording or a list of them; got "
            f"{type(recording_files).__name__}."
        ) from None
    if not sources:
        raise InputError("recording_files is empty: pass at least one recording file or folder.")
    return [Path(s) if isinstance(s, os.PathLike) else s for s in sources]


def run(sources: Sequence[Any], config: SortingPipelineConfig) -> list[LoadedRecording]:
    """Open each source with the reader plugins (header only; traces are read later).

    Raises
    ------
    InputError
        For a missing, corrupt or unsupported input (naming it and the fix).
    HDF5PluginMissingError
        When a compressed file's HDF5 filter is not installed.
    """
    from spikelab.spike_sorting.io import open_recording

    if config.recording.hdf5_plugin_path:
        os.environ["HDF5_PLUGIN_PATH"] = str(config.recording.hdf5_plugin_path)
    loaded = []
    with stage("load", recordings=len(sources)) as fields:
        for source in sources:
            loaded.append(open_recording(source, config.recording))
        fields["names"] = [item.name for item in loaded]
    return loaded
