"""Read Kilosort4's phy output into a SpikeInterface sorting (the pipeline makes SpikeData of it)."""

from __future__ import annotations

import json
from pathlib import Path

from spikelab.errors import InputError
from spikelab_ks4.runner import RESULTS_SUBFOLDER, RUN_RECORD


def results_folder(sorter_folder: Path | str) -> Path:
    """Kilosort4's results folder inside ``sorter_folder`` (or the folder itself, when it holds
    the phy files directly, as a plain ``run_kilosort`` results_dir does)."""
    folder = Path(sorter_folder)
    for candidate in (folder / RESULTS_SUBFOLDER, folder):
        if (candidate / "spike_times.npy").is_file():
            return candidate
    raise InputError(
        f"No Kilosort4 output in {folder}: spike_times.npy is missing there and in "
        f"{RESULTS_SUBFOLDER}/. The sort did not finish; read {folder / 'kilosort4.log'} and sort again."
    )


def read_sorting(sorter_folder: Path | str, keep_good_only: bool | None = None):
    """Kilosort4's units as a SpikeInterface sorting.

    Parameters
    ----------
    sorter_folder : Path or str
        The sorter folder of a SpikeLab sort, or any Kilosort4 results folder.
    keep_good_only : bool or None, default: None
        Keep only the units Kilosort labels "good". None: what the sort was run with
        (``keep_good_only`` in its parameters), else False.

    Returns
    -------
    sorting : BaseSorting
        Spike trains in samples; unit ids are Kilosort's cluster ids, and the ``KSLabel``,
        ``ContamPct`` and ``Amplitude`` columns are unit properties.
    """
    from spikeinterface.extractors import read_kilosort

    folder = results_folder(sorter_folder)
    if keep_good_only is None:
        record = Path(sorter_folder) / RUN_RECORD
        keep_good_only = False
        if record.is_file():
            keep_good_only = bool(json.loads(record.read_text()).get("options", {}).get("keep_good_only"))
    return read_kilosort(folder, keep_good_only=keep_good_only)


def read_spikedata(sorter_folder: Path | str, recording=None, keep_good_only: bool | None = None):
    """Kilosort4's units as :class:`~spikelab.SpikeData` (spike times in ms).

    Parameters
    ----------
    sorter_folder : Path or str
        As for :func:`read_sorting`.
    recording : BaseRecording, optional
        Gives the length and channel locations (see ``SpikeData.from_spikeinterface``).
    keep_good_only : bool or None, default: None
        As for :func:`read_sorting`.
    """
    from spikelab.spikedata.construct import from_spikeinterface

    return from_spikeinterface(read_sorting(sorter_folder, keep_good_only), recording)


__all__ = ["read_sorting", "read_spikedata", "results_folder"]
