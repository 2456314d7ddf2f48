"""A SpikeInterface recording over a legacy Maxwell ``/sig`` dataset that reads only mapped rows.

neo 0.14 reads every row of ``/sig`` for legacy files; real files carry extra non-signal rows,
which then break channel selection. This recording reads row ``channel`` for every mapped
channel (``mapping["channel"] >= 0``, first occurrence of a duplicated channel kept) and
nothing else. It rebuilds from its file path, so SpikeInterface workers can reopen it.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from spikeinterface.core import BaseRecording, BaseRecordingSegment

from spikelab.errors import InputError
from spikelab.spike_sorting.io.maxwell import LEGACY_SAMPLING_HZ, gain_uv


class MaxwellLegacyRecording(BaseRecording):
    """Legacy MaxOne file (``version`` 20160704) read through h5py.

    Parameters
    ----------
    file_path : str or Path
        The ``.raw.h5`` file.
    """

    def __init__(self, file_path: str | Path) -> None:
        import h5py

        file_path = Path(file_path)
        with h5py.File(file_path, "r") as f:
            mapping = np.asarray(f["mapping"])
            n_rows, n_samples = f["sig"].shape
            gain = gain_uv(f["settings"]) if "settings" in f else gain_uv({})
        mapping = mapping[mapping["channel"] >= 0]
        _, first = np.unique(mapping["channel"], return_index=True)
        mapping = mapping[np.sort(first)]
        rows = mapping["channel"].astype(np.int64)
        if rows.size == 0:
            raise InputError(f"{file_path}: the mapping table has no channel >= 0; nothing to read.")
        if rows.max() >= n_rows:
            raise InputError(
                f"{file_path}: mapping names channel {int(rows.max())} but /sig has only {n_rows} rows; "
                "the file is truncated or its mapping is wrong."
            )
        channel_ids = np.array([str(c) for c in rows])
        BaseRecording.__init__(self, sampling_frequency=LEGACY_SAMPLING_HZ, channel_ids=channel_ids, dtype="uint16")
        self.add_recording_segment(_LegacySegment(file_path, rows, n_samples))
        self.set_channel_gains(gain)
        self.set_channel_offsets(0.0)
        self.set_property("electrode", mapping["electrode"].astype(np.int64))
        self.set_probe(_probe(mapping))  # in place since SpikeInterface 0.105
        self.annotate(is_filtered=False)
        self.extra_requirements.append("h5py")
        self._kwargs = {"file_path": str(file_path)}


def _probe(mapping: np.ndarray) -> object:
    """Maxwell's electrode geometry: 5.45 x 9.3 µm rectangular contacts at the mapped (x, y)."""
    from probeinterface import Probe

    probe = Probe(ndim=2, si_units="um", manufacturer="Maxwell Biosystems")
    positions = np.column_stack([mapping["x"], mapping["y"]]).astype(float)
    probe.set_contacts(positions=positions, shapes="rect", shape_params={"width": 5.45, "height": 9.3})
    probe.set_contact_ids([str(e) for e in mapping["electrode"]])
    probe.set_device_channel_indices(np.arange(len(mapping)))
    return probe


class _LegacySegment(BaseRecordingSegment):
    def __init__(self, file_path: Path, rows: np.ndarray, n_samples: int) -> None:
        BaseRecordingSegment.__init__(self, sampling_frequency=LEGACY_SAMPLING_HZ)
        self._file_path = file_path
        self._rows = rows
        self._n_samples = int(n_samples)
        self._file = None

    def get_num_samples(self) -> int:
        return self._n_samples

    def get_traces(self, start_frame: int | None = None, end_frame: int | None = None, channel_indices=None) -> np.ndarray:
        import h5py

        if self._file is None:
            self._file = h5py.File(self._file_path, "r")
        start = 0 if start_frame is None else int(start_frame)
        end = self._n_samples if end_frame is None else int(end_frame)
        rows = self._rows if channel_indices is None else self._rows[channel_indices]
        order = np.argsort(rows, kind="stable")
        unique_rows, inverse = np.unique(rows[order], return_inverse=True)
        # h5py wants increasing, unique row indices; read a contiguous block when it is cheaper
        if unique_rows.size > 0.5 * (unique_rows[-1] - unique_rows[0] + 1):
            block = self._file["sig"][int(unique_rows[0]) : int(unique_rows[-1]) + 1, start:end]
            data = block[unique_rows - unique_rows[0]]
        else:
            data = self._file["sig"][unique_rows, start:end]
        out = np.empty((rows.size, end - start), dtype=np.uint16)
        out[order] = data[inverse]
        return out.T
