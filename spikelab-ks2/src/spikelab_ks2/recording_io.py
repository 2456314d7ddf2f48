"""The int16 binary Kilosort2 reads: the job's own file when it already is one, else a copy.

Kilosort2 reads raw int16 only. The copy (``recording.dat`` in the sorter folder) keeps int16 data
as is, shifts unsigned 8/16-bit counts by their midpoint (exact), and scales floats and wider
integers so the noise spans about :data:`NOISE_STEPS` steps without clipping the peaks. Kilosort2
filters and whitens the data itself, so only the quantisation matters, not the scale.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import attrs
import numpy as np
import structlog

if TYPE_CHECKING:
    from spikeinterface.core import BaseRecording

log = structlog.get_logger("spikelab.ks2")

#: Written copy of the recording (only when the job's binary cannot be read as is).
RECORDING_DAT = "recording.dat"
#: Noise standard deviations mapped to this many int16 steps when a float recording is converted.
NOISE_STEPS = 20.0
#: Largest value a converted float recording may reach (room below the int16 limit).
PEAK_STEPS = 30000.0


@attrs.frozen(kw_only=True)
class BinaryInput:
    """The binary Kilosort2 will read, with what it needs to know about it.

    Parameters
    ----------
    path : Path
        The int16, time-major file.
    num_channels : int
        Channels interleaved in it.
    sampling_frequency : float
        Sampling rate (Hz).
    locations : np.ndarray
        ``(num_channels, 2)`` channel positions (µm).
    channel_ids : list
        The recording's channel ids, in file order.
    copied : bool
        Whether ``path`` is a copy written for Kilosort2 (``recording.dat`` in the sorter folder).
    gain_to_int16 : float
        Factor applied to float traces before rounding (1.0 when the file was used as is).
    """

    path: Path
    num_channels: int
    sampling_frequency: float
    locations: np.ndarray = attrs.field(eq=False)
    channel_ids: list
    copied: bool
    gain_to_int16: float = 1.0


def _float_gain(recording: BaseRecording, seed: int) -> float:
    """A gain that maps the noise to about ``NOISE_STEPS`` steps and keeps peaks inside int16."""
    from spikeinterface.core import get_random_data_chunks

    chunk_size = int(min(10000, recording.get_num_samples()))
    chunks = get_random_data_chunks(recording, num_chunks_per_segment=10, chunk_size=chunk_size, seed=seed)
    chunks = chunks.astype(np.float64)
    centred = chunks - np.median(chunks, axis=0)
    noise = float(np.median(np.median(np.abs(centred), axis=0) / 0.6745))
    peak = float(np.max(np.abs(chunks))) if chunks.size else 0.0
    gains = []
    if noise > 0:
        gains.append(NOISE_STEPS / noise)
    if peak > 0:
        gains.append(PEAK_STEPS / peak)
    return min(gains) if gains else 1.0


def prepare_binary(recording: BaseRecording, sorter_folder: Path, *, n_jobs: int = 1, seed: int = 0) -> BinaryInput:
    """The int16 binary for Kilosort2, writing ``recording.dat`` only when needed.

    Parameters
    ----------
    recording : BaseRecording
        The recording as the pipeline prepared it (one segment).
    sorter_folder : Path
        Where a copy is written when one is needed.
    n_jobs : int, default: 1
        Workers for writing the copy.
    seed : int, default: 0
        Seed for the chunks that set the float-to-int16 gain.

    Raises
    ------
    ValueError
        For a multi-segment recording or one without 2D channel locations.
    """
    from spikeinterface.core import write_binary_recording

    if recording.get_num_segments() != 1:
        raise ValueError(
            f"Kilosort2 sorts one segment at a time; this recording has {recording.get_num_segments()}. "
            "Concatenate the segments (spikeinterface.concatenate_recordings) or select one."
        )
    locations = np.asarray(recording.get_channel_locations(), dtype=float)
    common = {
        "num_channels": recording.get_num_channels(),
        "sampling_frequency": float(recording.get_sampling_frequency()),
        "locations": locations,
        "channel_ids": [c.item() if hasattr(c, "item") else c for c in recording.channel_ids],
    }
    if recording.binary_compatible_with(dtype="int16", time_axis=0, file_paths_length=1, file_offset=0):
        path = Path(recording.get_binary_description()["file_paths"][0]).resolve()
        log.info("ks2_binary_reused", path=str(path))
        return BinaryInput(path=path, copied=False, **common)

    gain, offset = 1.0, 0.0
    dtype = np.dtype(recording.get_dtype())
    if dtype == np.int16:
        source = recording
    elif dtype.kind == "u" and dtype.itemsize <= 2:
        # unsigned ADC counts (Maxwell's uint16): shifting by the midpoint keeps every step exactly
        import spikeinterface.preprocessing as spre

        offset = -float(2 ** (8 * dtype.itemsize - 1))
        source = spre.scale(recording, gain=1.0, offset=offset, dtype="int16")
    else:
        # floats (µV) and wider integers: scale so the noise spans NOISE_STEPS int16 steps
        import spikeinterface.preprocessing as spre

        gain = _float_gain(recording, seed)
        source = spre.scale(recording, gain=gain, offset=0.0, dtype="int16")
    path = (sorter_folder / RECORDING_DAT).resolve()
    tmp = path.with_name("recording.partial.dat")  # SpikeInterface keeps .dat, appends .raw to others
    write_binary_recording(source, file_paths=[tmp], dtype="int16", n_jobs=n_jobs, progress_bar=False)
    tmp.replace(path)
    (sorter_folder / "recording_dat.json").write_text(
        json.dumps({"source_dtype": dtype.name, "gain_to_int16": gain, "offset_to_int16": offset})
    )
    log.info("ks2_binary_written", path=str(path), source_dtype=dtype.name, gain_to_int16=gain, offset=offset)
    return BinaryInput(path=path, copied=True, gain_to_int16=gain, **common)
