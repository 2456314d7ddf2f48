"""Opening a user's sorted recording for training: a recording plus the sorting made from it.

A :class:`SortedRecording` pairs anything :func:`spikelab.spike_sorting.io.open_recording` reads
(a Maxwell ``.raw.h5``, NWB, a saved SpikeInterface folder or a recording object) with its
sorting: a SpikeInterface sorting, a Kilosort or phy output folder, a saved SpikeInterface sorting
folder, a SpikeLab ``SpikeData`` or a ``SpikeData`` file (``.pkl`` / ``.npz``).
:func:`open_sorted_recording` checks the pair (rates, units, spikes inside the recording) and
says what to fix when it does not fit.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import attrs
import numpy as np

from spikelab.errors import InputError

_SI_FOLDER_MARKERS = ("si_folder.json", "provenance.json", "sorting_info.json")
_SPIKEDATA_SUFFIXES = (".pkl", ".pickle", ".npz")


@attrs.frozen
class SortedRecording:
    """A recording and its sorting, given to :func:`~spikelab_rtsort.training.train_detection_model`.

    Parameters
    ----------
    recording : str, Path or BaseRecording
        The recording the units were sorted from.
    sorting : str, Path, BaseSorting or SpikeData
        Its sorting: a SpikeInterface sorting, a Kilosort / phy folder (``params.py`` +
        ``spike_times.npy``; phy "noise" clusters are left out), a saved SpikeInterface sorting
        folder, a ``SpikeData`` or a ``SpikeData`` file (``.pkl`` / ``.npz``).
    name : str or None, default: None
        Name in logs and provenance; defaults to the recording's file name.
    """

    recording: Any
    sorting: Any
    name: str | None = None


@attrs.frozen
class OpenedSorted:
    """A checked, single-segment recording / sorting pair with a description for provenance."""

    recording: Any
    sorting: Any
    name: str
    description: dict


def _describe(source: Any) -> str:
    if isinstance(source, (str, Path)):
        return str(Path(source).expanduser())
    return f"<{type(source).__name__} object>"


def _open_recording(source: Any):
    from spikelab.spike_sorting.io import open_recording

    return open_recording(source)


def open_sorting(source: Any, sampling_frequency: float):
    """Read ``source`` as a SpikeInterface sorting (see :class:`SortedRecording` for the forms).

    Parameters
    ----------
    source : str, Path, BaseSorting or SpikeData
        The sorting.
    sampling_frequency : float
        Rate of its recording (used to turn ``SpikeData`` times in ms into frames).

    Returns
    -------
    sorting : BaseSorting
        The sorting.

    Raises
    ------
    InputError
        The path is missing or is none of the known forms.
    """
    from spikeinterface.core import BaseSorting

    if isinstance(source, BaseSorting):
        return source
    if hasattr(source, "to_spikeinterface") and hasattr(source, "train"):  # a SpikeData
        return source.to_spikeinterface(fs_Hz=sampling_frequency)
    if source is None:
        raise InputError("No sorting given: pass the sorting made from the recording (a Kilosort or "
                         "phy folder, a SpikeData file or a SpikeInterface sorting).")
    path = Path(source).expanduser()
    if not path.exists():
        raise InputError(f"Sorting {path} does not exist; pass the Kilosort / phy output folder, "
                         f"a SpikeData file ({', '.join(_SPIKEDATA_SUFFIXES)}) or a saved "
                         "SpikeInterface sorting folder.")
    if path.is_file() and path.suffix.lower() in _SPIKEDATA_SUFFIXES:
        from spikelab.spikedata.spikedata import SpikeData

        return SpikeData.load(path).to_spikeinterface(fs_Hz=sampling_frequency)
    if path.is_dir() and (path / "params.py").is_file() and (path / "spike_times.npy").is_file():
        import spikeinterface.extractors as se

        return se.read_phy(path, exclude_cluster_groups=["noise"])
    if path.is_dir() and any((path / m).exists() for m in _SI_FOLDER_MARKERS):
        from spikeinterface.core import load

        return load(path)
    raise InputError(f"Cannot read {path} as a sorting: expected a Kilosort / phy folder "
                     "(params.py + spike_times.npy), a saved SpikeInterface sorting folder or a "
                     f"SpikeData file ({', '.join(_SPIKEDATA_SUFFIXES)}).")


def open_sorted_recording(item: SortedRecording, sampling_frequency: float) -> OpenedSorted:
    """Open and check one :class:`SortedRecording`.

    Parameters
    ----------
    item : SortedRecording
        The recording and its sorting.
    sampling_frequency : float
        The rate the model is trained for (its windows are fixed in frames).

    Returns
    -------
    opened : OpenedSorted
        Recording, sorting (spikes outside the recording dropped) and a provenance description.

    Raises
    ------
    InputError
        Missing sorting, no units or spikes, or a sampling rate that does not match the sorting or
        the model; the message names the input and the fix.
    """
    if item.sorting is None:
        raise InputError(f"Recording {_describe(item.recording)} has no sorting; give one per "
                         "recording (`--sorted RECORDING SORTING`).")
    loaded = _open_recording(item.recording)
    recording = loaded.recording
    name = item.name or loaded.name
    fs = float(recording.get_sampling_frequency())
    if abs(fs - sampling_frequency) > 1e-3 * sampling_frequency:
        raise InputError(
            f"Recording {name} is sampled at {fs:g} Hz but the model's 10 ms windows are sized for "
            f"{sampling_frequency:g} Hz; train with `--sampling-frequency {fs:g}` (a separate model "
            "for this rate), or give recordings at the model's rate.")
    sorting = open_sorting(item.sorting, fs)
    sorting_fs = float(sorting.get_sampling_frequency())
    if abs(sorting_fs - fs) > 1e-3 * fs:
        raise InputError(f"Sorting {_describe(item.sorting)} is at {sorting_fs:g} Hz but recording "
                         f"{name} at {fs:g} Hz; give the sorting made from this recording.")
    if sorting.get_num_segments() != 1:
        raise InputError(f"Sorting {_describe(item.sorting)} has {sorting.get_num_segments()} "
                         "segments; give a single-segment sorting (one per recording).")
    n_frames = recording.get_num_frames()
    vector = sorting.to_spike_vector()
    outside = int(np.count_nonzero(vector["sample_index"] >= n_frames))
    if outside:
        if outside > 0.01 * max(len(vector), 1):
            raise InputError(f"{outside} of {len(vector)} spikes of sorting "
                             f"{_describe(item.sorting)} lie after the end of recording {name}; "
                             "give the sorting made from this recording.")
        sorting = sorting.frame_slice(0, n_frames)
    counts = np.bincount(sorting.to_spike_vector()["unit_index"], minlength=sorting.get_num_units())
    if sorting.get_num_units() == 0 or int(np.sum(counts)) == 0:
        raise InputError(f"Sorting {_describe(item.sorting)} has no units with spikes; give a "
                         "sorting with at least one unit (phy 'noise' clusters are left out).")
    description = dict(name=name, recording=_describe(item.recording),
                       sorting=_describe(item.sorting), sampling_frequency=fs,
                       duration_s=round(n_frames / fs, 3), units=int(sorting.get_num_units()),
                       spikes=int(np.sum(counts)))
    return OpenedSorted(recording, sorting, name, description)


def time_split(opened: OpenedSorted, val_fraction: float) -> tuple[OpenedSorted, OpenedSorted]:
    """Split one recording in time: the first ``1 - val_fraction`` trains, the rest validates."""
    if not 0.0 < val_fraction < 1.0:
        raise InputError(f"The validation fraction must be in (0, 1), got {val_fraction}.")
    n_frames = opened.recording.get_num_frames()
    cut = int(round(n_frames * (1.0 - val_fraction)))
    parts = []
    for role, (start, stop) in (("train", (0, cut)), ("validation", (cut, n_frames))):
        recording = opened.recording.frame_slice(start, stop)
        sorting = opened.sorting.frame_slice(start, stop)
        description = dict(opened.description, frames=[start, stop],
                           duration_s=round((stop - start) / recording.get_sampling_frequency(), 3),
                           spikes=int(len(sorting.to_spike_vector())))
        parts.append(OpenedSorted(recording, sorting, f"{opened.name}[{role}]", description))
    return parts[0], parts[1]
