"""Stage ``load``: open every input (lazily) before any long work, so bad files fail first."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import attrs

from spikelab.errors import ConfigError, InputError
from spikelab.spike_sorting.io import open_recording
from spikelab.spike_sorting.stages import stage

if TYPE_CHECKING:
    from spikelab.plugins import SpikeLabPluginManager
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
    for index, source in enumerate(sources):
        if not (isinstance(source, (str, os.PathLike)) or hasattr(source, "get_traces")):
            raise InputError(
                f"recording_files[{index}] is {source!r} ({type(source).__name__}); each entry must be "
                "a file or folder path or a SpikeInterface recording."
            )
    return [Path(s) if isinstance(s, os.PathLike) else s for s in sources]


def check_band(config: SortingPipelineConfig, name: str, sampling_frequency: float) -> None:
    """Refuse a band-pass the recording cannot have, before any work.

    A ``freq_max`` left at its default is lowered for low-rate recordings later (to 0.45 fs);
    one the user chose at or above the Nyquist frequency is an error, as is such a ``freq_min``.

    Raises
    ------
    ConfigError
        Naming the knob, the recording, its sampling rate and the largest value allowed.
    """
    from spikelab.spike_sorting.config import RecordingConfig

    nyquist = sampling_frequency / 2
    default_max = attrs.fields(RecordingConfig).freq_max.default
    for knob_name in ("freq_min", "freq_max"):
        value = getattr(config.recording, knob_name)
        if value >= nyquist and (knob_name == "freq_min" or value != default_max):
            raise ConfigError(
                f"{knob_name}={value:g} Hz is at or above the Nyquist frequency of {name} "
                f"({nyquist:g} Hz, half its {sampling_frequency:g} Hz sampling rate); use a value "
                f"below {nyquist:g} @ $.recording.{knob_name}"
            )


def run(
    sources: Sequence[Any], config: SortingPipelineConfig, *, plugins: SpikeLabPluginManager
) -> list[LoadedRecording]:
    """Open each source with ``plugins``' readers (header only; traces are read later).

    Raises
    ------
    InputError
        For a missing, corrupt or unsupported input (naming it and the fix).
    HDF5PluginMissingError
        When a compressed file's HDF5 filter is not installed.
    """
    if config.recording.hdf5_plugin_path:
        os.environ["HDF5_PLUGIN_PATH"] = str(config.recording.hdf5_plugin_path)
    loaded = []
    with stage("load", recordings=len(sources)) as fields:
        for source in sources:
            item = open_recording(source, config.recording, plugins=plugins)
            check_band(config, item.name, item.recording.get_sampling_frequency())
            loaded.append(item)
        fields["names"] = [item.name for item in loaded]
    return loaded
