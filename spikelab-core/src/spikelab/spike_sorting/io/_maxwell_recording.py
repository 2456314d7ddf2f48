"""A SpikeInterface recording over a Maxwell signal dataset, read through h5py, checked as it reads.

Both layouts are read here: legacy ``/sig`` and new ``wells/<well>/<rec>/groups/routed/raw``.

- **Type.** Maxwell hardware writes unsigned 16-bit ADC codes; a signal of any other type (a
  converted file holding µV floats or offset-removed int16) is refused rather than cast.
- **Rows.** Legacy files: row ``channel`` holds mapped channel ``channel``; real files carry
  non-signal rows after the channels, which are never read (neo 0.14 reads them all). New
  layout: mapping row ``i`` describes signal row ``i``, so the mapped channels must number
  exactly the signal rows.
- **Values.** HDF5 keeps no checksum of contiguous, uncompressed data, so a copy overwritten in
  the middle opens and reads without error. The ADC has 1024 codes (``gain_uV = 3.3 / (1024 *
  gain)``, the lsb of real files is 3.3 / 1024 / 512 V), so a code above 1023 in a signal row
  can only be damage. Every block read is checked, and :func:`scan_values` checks spread
  blocks when the file is opened. Damage that writes valid codes (zeros, say) cannot be told
  from signal by any reader. Damaged compressed chunks fail HDF5's filter instead; both become
  :class:`~spikelab.errors.InputError` naming the file.

The recording rebuilds from ``(file_path, dataset)``, so SpikeInterface workers can reopen it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from spikeinterface.core import BaseRecording, BaseRecordingSegment

from spikelab.errors import InputError
from spikelab.spike_sorting.io.maxwell import LEGACY_SAMPLING_HZ, gain_uv

#: Highest code of Maxwell's 10-bit ADC.
ADC_MAX_CODE = 1023
_MAPPING_FIELDS = ("channel", "electrode", "x", "y")


class MaxwellRecording(BaseRecording):
    """One stream of a Maxwell ``.raw.h5`` file.

    Parameters
    ----------
    file_path : str or Path
        The ``.raw.h5`` file.
    dataset : str, default: "sig"
        The signal dataset: ``"sig"`` (legacy) or ``"wells/<well>/<rec>/groups/routed/raw"``.

    Raises
    ------
    InputError
        A signal that is not uint16 or not 2-D, a missing or malformed mapping, or a mapping
        that does not match the signal rows.
    """

    def __init__(self, file_path: str | Path, dataset: str = "sig") -> None:
        import h5py

        file_path = Path(file_path)
        legacy = dataset == "sig"
        where = "" if legacy else dataset.rsplit("/groups/", 1)[0] + "/"
        try:
            with h5py.File(file_path, "r") as f:
                signal = f[dataset]
                shape, dtype = signal.shape, signal.dtype
                mapping = _read_mapping(f, f"{where}mapping" if legacy else f"{where}settings/mapping", file_path)
                settings = f[f"{where}settings"] if f"{where}settings" in f else {}
                gain = gain_uv(settings)
                fs = LEGACY_SAMPLING_HZ if legacy else _sampling(settings, file_path, where)
        except (OSError, KeyError) as exc:
            raise InputError(f"{file_path}: cannot read the Maxwell header ({exc}); the file is damaged.") from exc
        _check_signal(file_path, dataset, shape, dtype)
        mapping, rows = _rows(mapping, shape[0], legacy, file_path, dataset)
        BaseRecording.__init__(
            self, sampling_frequency=fs, channel_ids=np.array([str(c) for c in mapping["channel"]]), dtype="uint16"
        )
        self.add_recording_segment(_Segment(file_path, dataset, rows, int(shape[1]), fs))
        self.set_channel_gains(gain)
        self.set_channel_offsets(0.0)
        self.set_property("electrode", mapping["electrode"].astype(np.int64))
        self.set_probe(_probe(mapping))  # in place since SpikeInterface 0.105
        self.annotate(is_filtered=False)
        self.extra_requirements.append("h5py")
        self._kwargs = {"file_path": str(file_path), "dataset": dataset}


def _read_mapping(f: Any, name: str, file_path: Path) -> np.ndarray:
    if name not in f:
        raise InputError(
            f"{file_path} has no '/{name}' table: the channel-to-electrode mapping is missing, so its "
            "traces cannot be placed on the array. Export the recording again from MaxLab Live."
        )
    mapping = np.asarray(f[name])
    missing = [field for field in _MAPPING_FIELDS if field not in (mapping.dtype.names or ())]
    if missing:
        raise InputError(
            f"{file_path}: '/{name}' lacks the fields {missing}; a Maxwell mapping has {list(_MAPPING_FIELDS)}."
        )
    return mapping


def _sampling(settings: Any, file_path: Path, where: str) -> float:
    fs = float(np.asarray(settings["sampling"])[0]) if "sampling" in settings else float("nan")
    if not np.isfinite(fs) or fs <= 0:
        raise InputError(f"{file_path}: '/{where}settings/sampling' is missing or not a positive rate ({fs}).")
    return fs


def _check_signal(file_path: Path, dataset: str, shape: tuple[int, ...], dtype: np.dtype) -> None:
    if dtype != np.uint16:
        raise InputError(
            f"{file_path}: '/{dataset}' stores {dtype}, but Maxwell files store uint16 ADC codes; a "
            f"{dtype} signal would be misread (cast to uint16, or scaled by the ADC gain). If this is a "
            "converted file, open it with SpikeInterface yourself, set its gains, and pass the recording."
        )
    if len(shape) != 2 or shape[0] == 0 or shape[1] == 0:
        raise InputError(f"{file_path}: '/{dataset}' has shape {shape}; expected (channels, samples) with data.")


def _rows(
    mapping: np.ndarray, n_rows: int, legacy: bool, file_path: Path, dataset: str
) -> tuple[np.ndarray, np.ndarray]:
    """The kept mapping rows and the signal row each is read from."""
    mapping = mapping[mapping["channel"] >= 0]
    if mapping.size == 0:
        raise InputError(f"{file_path}: the mapping table has no channel >= 0; nothing to read.")
    if not legacy:
        if mapping.size != n_rows or np.unique(mapping["channel"]).size != mapping.size:
            raise InputError(
                f"{file_path}: the mapping lists {mapping.size} channels ({np.unique(mapping['channel']).size} "
                f"distinct) but '/{dataset}' has {n_rows} rows; each signal row needs exactly one mapped "
                "channel. The file is damaged or was edited; export it again."
            )
        return mapping, np.arange(n_rows)
    _, first = np.unique(mapping["channel"], return_index=True)
    mapping = mapping[np.sort(first)]
    rows = mapping["channel"].astype(np.int64)
    if rows.max() >= n_rows:
        raise InputError(
            f"{file_path}: mapping names channel {int(rows.max())} but /sig has only {n_rows} rows; "
            "the file is truncated or its mapping is wrong."
        )
    return mapping, rows


def _probe(mapping: np.ndarray) -> object:
    """Maxwell's electrode geometry: 5.45 x 9.3 µm rectangular contacts at the mapped (x, y)."""
    from probeinterface import Probe

    probe = Probe(ndim=2, si_units="um", manufacturer="Maxwell Biosystems")
    positions = np.column_stack([mapping["x"], mapping["y"]]).astype(float)
    probe.set_contacts(positions=positions, shapes="rect", shape_params={"width": 5.45, "height": 9.3})
    probe.set_contact_ids([str(e) for e in mapping["electrode"]])
    probe.set_device_channel_indices(np.arange(len(mapping)))
    return probe


def scan_values(recording: MaxwellRecording) -> None:
    """Read the windows of :func:`~spikelab.spike_sorting.io._finite.scan_windows` (the whole of a
    small file, spread blocks of a large one) so damaged values fail at open, not mid-sort.

    Raises
    ------
    InputError
        A block holds a code above :data:`ADC_MAX_CODE` or HDF5 cannot decode it.
    """
    from spikelab.spike_sorting.io._finite import scan_windows

    for start, end in scan_windows(recording.get_num_samples(), recording.get_num_channels()):
        recording.get_traces(start_frame=start, end_frame=end)


class _Segment(BaseRecordingSegment):
    def __init__(self, file_path: Path, dataset: str, rows: np.ndarray, n_samples: int, fs: float) -> None:
        BaseRecordingSegment.__init__(self, sampling_frequency=fs)
        self._file_path = file_path
        self._dataset = dataset
        self._rows = rows
        self._n_samples = int(n_samples)
        self._file = None

    def get_num_samples(self) -> int:
        return self._n_samples

    def get_traces(
        self, start_frame: int | None = None, end_frame: int | None = None, channel_indices=None
    ) -> np.ndarray:
        start = 0 if start_frame is None else int(start_frame)
        end = self._n_samples if end_frame is None else int(end_frame)
        rows = self._rows if channel_indices is None else self._rows[channel_indices]
        if rows.size == 0 or end <= start:
            return np.empty((max(0, end - start), rows.size), dtype=np.uint16)
        try:
            data = self._read(rows, start, end)
        except OSError as exc:
            raise InputError(
                f"{self._file_path}: HDF5 cannot read '/{self._dataset}' at samples {start}-{end} ({exc}); "
                "the file is damaged (a failed copy or a bad disk). Copy it again from the original."
            ) from exc
        if data.size and int(data.max()) > ADC_MAX_CODE:
            bad = int(np.argmax(data.max(axis=0)))
            raise InputError(
                f"{self._file_path}: '/{self._dataset}' holds code {int(data.max())} near sample {start + bad} "
                f"(read of samples {start}-{end}), above the ADC's maximum {ADC_MAX_CODE}: this stretch of the "
                "file is damaged (overwritten or a failed copy). Copy it again from the original."
            )
        return data.T

    def _read(self, rows: np.ndarray, start: int, end: int) -> np.ndarray:
        import h5py

        if self._file is None:
            self._file = h5py.File(self._file_path, "r")
        signal = self._file[self._dataset]
        # h5py wants increasing, unique row indices; read a contiguous block when it is cheaper.
        # Each copy below holds a whole chunk: the binary copy's workers hold several at once,
        # so rows already in increasing order (every channel, the usual case) are returned as read.
        increasing = bool(np.all(np.diff(rows) > 0))
        unique_rows, inverse = (rows, None) if increasing else np.unique(rows, return_inverse=True)
        low, high = int(unique_rows[0]), int(unique_rows[-1]) + 1
        if unique_rows.size > 0.5 * (high - low):
            data = signal[low:high, start:end]
            if unique_rows.size < high - low:
                data = data[unique_rows - low]
        else:
            data = signal[unique_rows, start:end]
        return data if inverse is None else data[inverse.ravel()]
