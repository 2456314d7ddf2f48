"""Splitting a concatenated recording's SpikeData back into one SpikeData per file."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from spikelab.spikedata.errors import SpikeDataError

if TYPE_CHECKING:
    from spikelab.spikedata.spikedata import SpikeData

#: facts of the whole concatenated recording, wrong for one of its files
_CHUNK_KEYS = ("rec_chunks_ms", "rec_chunk_names", "rec_chunks_frames", "recording_folder", "recording_config")


def split_epochs(sd: SpikeData) -> list[SpikeData]:
    """One SpikeData per ``metadata["rec_chunks_ms"]`` entry, each shifted to start at t=0.

    See :meth:`spikelab.SpikeData.split_epochs`.
    """
    chunks = sd.metadata.get("rec_chunks_ms")
    if chunks is None or len(chunks) == 0:
        raise SpikeDataError(
            "split_epochs needs metadata['rec_chunks_ms'] = [(start_ms, end_ms), ...], one per recording "
            "file; the sorting pipeline sets it when it concatenates a directory of recordings."
        )
    bounds = np.asarray(chunks, dtype=np.float64).reshape(-1, 2)
    if np.any(bounds[:, 1] <= bounds[:, 0]) or np.any(bounds[1:, 0] < bounds[:-1, 1] - 1e-9):
        raise SpikeDataError(
            f"metadata['rec_chunks_ms'] must be increasing, non-overlapping (start, end) pairs; got {bounds.tolist()}."
        )
    names = list(sd.metadata.get("rec_chunk_names") or [])
    epochs = []
    for index, (start, end) in enumerate(bounds):
        last = index == len(bounds) - 1
        # The last epoch keeps a spike at exactly its end time.
        epoch = sd.subtime(start, np.nextafter(end, np.inf) if last else end)
        epoch.length = float(end - start)
        for key in _CHUNK_KEYS:
            epoch.metadata.pop(key, None)
        epoch.metadata["epoch_index"] = index
        if index < len(names):
            epoch.metadata["source_file"] = names[index]
        for unit in epoch.neuron_attributes:
            templates = unit.pop("epoch_templates", None)
            if templates is not None and index < len(templates) and templates[index] is not None:
                unit["template"] = np.asarray(templates[index])
                if unit.get("channel") is not None:
                    unit["avg_waveform"] = unit["template"][int(unit["channel"])]
        epochs.append(epoch)
    return epochs
